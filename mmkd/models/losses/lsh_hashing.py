# Copyright (c) mmkd contributors. All rights reserved.
"""The machinery of :class:`~mmkd.models.losses.LSHLoss`: the feature
vectors it hashes (the positions of dense maps, unfolded), its random
projection and the hash loss, the reduction of per-vector losses to
per-sample means, the teacher-correct sample weights and the anchor prior
of dense detectors (which positions an anchor head's assigner uses)."""
import difflib
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .utils import check_positive

LSH_MODES = ('l2', 'lsh', 'lshl2')
LSH_BIAS_KINDS = ('median', 'zero')
LSH_LEVEL_REDUCTIONS = ('mean', 'sum')
LSH_HOOK_HINT = ("add custom_hooks=[dict(type='mmkd.LSHMedianBiasHook')] "
                 'to the config')


def check_positive_int(name: str, value) -> int:
    """``value`` if it is an int >= 1, else a ValueError naming LSHLoss's
    argument ``name``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f'LSHLoss: {name} must be an int >= 1, got '
                         f'{value!r}')
    return value


def check_dense_options(unfold, level_reduction, anchor_mask_head) -> None:
    """Validate LSHLoss's options for dense maps (see its doc)."""
    if not isinstance(unfold, int) or isinstance(unfold, bool) or \
            unfold < 1 or unfold % 2 == 0:
        raise ValueError(
            'LSHLoss: unfold must be an odd int >= 1 (each position '
            "of a map is hashed with its unfold x unfold neighbourhood: "
            "1 = its C-vector, the paper's; 3 = the authors' RetinaNet "
            f'code), got {unfold!r}')
    if level_reduction not in LSH_LEVEL_REDUCTIONS:
        raise ValueError(
            f'LSHLoss: unknown level_reduction {level_reduction!r}; '
            f'choose one of {LSH_LEVEL_REDUCTIONS} (mean = one mean '
            'over the positions of all levels, sum = one mean per '
            'level, summed)')
    if anchor_mask_head is None:
        return
    if not isinstance(anchor_mask_head, str) or not anchor_mask_head:
        raise TypeError(
            'LSHLoss: anchor_mask_head must be the path of an anchor '
            "head in the student, e.g. 'bbox_head', got "
            f'{anchor_mask_head!r}')
    if level_reduction != 'mean':
        raise ValueError(
            f'LSHLoss: anchor_mask_head={anchor_mask_head!r} needs '
            "level_reduction='mean' (the head assigns the anchors "
            f'of all levels at once), got {level_reduction!r}')


def check_projection_options(mode: str, num_bits: Optional[int],
                             std: Optional[float],
                             std_from: Optional[str]) -> Optional[float]:
    """Validate LSHLoss's options of its random projection (``num_bits``
    resolved for the LSH modes); returns ``std`` as a float (None when not
    given)."""
    if mode == 'l2':
        given = [
            name for name, value in (('num_bits', num_bits), ('std', std),
                                     ('std_from', std_from))
            if value is not None
        ]
        if given:
            raise ValueError(f"LSHLoss: mode='l2' has no hash projection, so "
                             f'{given} would be ignored; remove them or use '
                             "mode='lshl2'")
        return None
    check_positive_int('num_bits', num_bits)
    if (std is None) == (std_from is None):
        raise ValueError(
            f"LSHLoss(mode={mode!r}) needs the std of its random "
            'projection, given exactly once: std=<float> (e.g. 0.06, '
            "the paper's ImageNet value) or std_from='<teacher "
            "parameter>' (e.g. 'head.fc.weight', the paper's CIFAR "
            f'setting); got std={std!r}, std_from={std_from!r}')
    if std_from is not None and (not isinstance(std_from, str)
                                 or not std_from):
        raise TypeError('LSHLoss: std_from must be the name of a '
                        f'teacher parameter, got {std_from!r}')
    return None if std is None else check_positive('LSHLoss', 'std', std)


# ---------------------------------------------------------------- vectors
def sample_vectors(feat: Tensor, kernel_size: int = 1) -> Tensor:
    """The feature vectors of each sample, B x P x D: P = 1 for a B x D
    batch, P = H*W for a B x C x H x W map (D = C * kernel_size^2, see
    :func:`feature_vectors`)."""
    if feat.dim() == 2:
        return feat[:, None, :]
    if kernel_size == 1:
        return feat.flatten(2).transpose(1, 2)
    return F.unfold(feat, kernel_size,
                    padding=kernel_size // 2).transpose(1, 2)


def feature_vectors(feat: Tensor, kernel_size: int = 1) -> Tensor:
    """The feature vectors of a B x D batch (itself) or of a B x C x H x W
    map, as N x D, sample-major.

    For a map, each position gives one vector: its C-vector
    (``kernel_size=1``), or its ``k x k`` neighbourhood, zero-padded at the
    borders, as ``F.unfold`` orders it (channel-major, then the ``k x k``
    offsets row by row): ``D = C * k * k``, ``N = B * H * W``.
    """
    return sample_vectors(feat, kernel_size).flatten(0, 1)


def level_vectors(feats: Sequence[Tensor], kernel_size: int = 1) -> Tensor:
    """B x P x D: the vectors of each sample, levels concatenated."""
    return torch.cat([sample_vectors(f, kernel_size) for f in feats], dim=1)


def select_vectors(fs: Tensor, ft: Tensor,
                   keep: Optional[Tensor]) -> Tuple[Tensor, Tensor, Tensor]:
    """The vectors of both sides (B x P x D) at the positions ``keep`` (B x
    P bool; None keeps all), N x D, sample-major, and the number each
    sample has (B)."""
    if keep is None:
        counts = torch.full((fs.shape[0], ), fs.shape[1], device=fs.device)
        return fs.flatten(0, 1), ft.flatten(0, 1), counts
    return fs[keep], ft[keep], keep.sum(dim=1)


def sample_means(per_vector: Tensor, counts: Tensor) -> Tensor:
    """The mean of the per-vector values (N, sample-major) of each sample,
    ``counts[b]`` of them for sample b; 0 for a sample without any."""
    num = counts.shape[0]
    owner = torch.repeat_interleave(
        torch.arange(num, device=counts.device), counts)
    return per_vector.new_zeros(num).index_add(
        0, owner, per_vector) / counts.clamp(min=1)


# ------------------------------------------------------------------ hashing
def random_projection(num_bits: int, dim: int, seed: int,
                      std: float) -> Tensor:
    """``W ~ N(0, std^2)``, ``num_bits x dim``, drawn from ``seed`` (not
    from the global random stream)."""
    gen = torch.Generator().manual_seed(seed)
    weight = torch.randn(num_bits, dim, generator=gen)
    return weight * std


def parameter_std(teacher: nn.Module, name: str) -> float:
    """The std of the teacher parameter ``name`` (LSHLoss's ``std_from``).
    """
    params = dict(teacher.named_parameters())
    if name not in params:
        close = difflib.get_close_matches(name, list(params), n=5, cutoff=0.3)
        raise ValueError(f'LSHLoss: std_from={name!r} is not a parameter '
                         f'of the teacher; closest names: {close}')
    param = params[name].detach()
    if param.numel() < 2:
        raise ValueError(f'LSHLoss: std_from={name!r} has '
                         f'{param.numel()} element(s); its std is '
                         'undefined')
    return float(param.double().std())


def hash_loss(fs: Tensor, ft: Tensor, proj_weight: Tensor,
              proj_bias: Tensor) -> Tensor:
    """BCE-with-logits of the student's hash logits ``W fs + b`` against
    the teacher's bits ``1[W ft + b > 0]``, averaged over bits: one value
    per vector (rows of ``fs``/``ft``)."""
    weight = proj_weight.to(fs.dtype)
    bias = proj_bias.to(fs.dtype)
    with torch.no_grad():
        bits = (F.linear(ft, weight, bias) > 0).to(fs.dtype)
    logits = F.linear(fs, weight, bias)
    return F.binary_cross_entropy_with_logits(logits, bits,
                                              reduction='none').mean(dim=1)


def teacher_correct_weights(teacher_logits: Optional[Tensor],
                            labels: Optional[Tensor], num: int,
                            like: Tensor) -> Tensor:
    """1 for the samples the teacher classifies correctly, else 0, in the
    dtype and on the device of ``like`` (``teacher_correct_only``)."""
    if not isinstance(teacher_logits, Tensor):
        raise RuntimeError(
            'LSHLoss(teacher_correct_only=True) needs the teacher '
            "logits: give the distill entry teacher_logits='head.fc' "
            '(the teacher module that outputs the logits), or pass '
            'teacher_logits=<B x C tensor> when calling the loss')
    if teacher_logits.dim() != 2 or teacher_logits.shape[0] != num:
        raise ValueError(
            f'LSHLoss: teacher_logits must be {num} x C (one row per '
            f'sample), got {tuple(teacher_logits.shape)}')
    if not isinstance(labels, Tensor):
        raise ValueError('LSHLoss(teacher_correct_only=True) needs the '
                         'class labels: pass labels=<B class indices> (the '
                         "distiller passes the data samples' gt_label, "
                         'classification data)')
    labels = labels.to(like.device)
    if labels.shape[0] != num:
        raise ValueError(f'LSHLoss: {labels.shape[0]} labels for a '
                         f'batch of {num} samples')
    correct = teacher_logits.detach().argmax(dim=1).to(like.device) == labels
    return correct.to(like.dtype)


# ------------------------------------------------------------ anchor prior
def find_anchor_head(student: nn.Module, path: str) -> nn.Module:
    """The student's anchor head at ``path`` (LSHLoss's
    ``anchor_mask_head``), checked to be able to assign anchors."""
    try:
        head = student.get_submodule(path)
    except AttributeError:
        names = [name for name, _ in student.named_modules() if name]
        close = difflib.get_close_matches(path, names, n=5, cutoff=0.3)
        raise ValueError(
            f'LSHLoss: anchor_mask_head={path!r} is not a module of the '
            f'student; closest names: {close}') from None
    missing = [
        attr for attr in ('get_anchors', 'prior_generator', 'assigner')
        if not hasattr(head, attr)
    ]
    train_cfg = getattr(head, 'train_cfg', None)
    if not missing and (train_cfg is None
                        or 'allowed_border' not in train_cfg):
        missing = ["train_cfg['allowed_border']"]
    if missing:
        raise ValueError(
            f'LSHLoss: anchor_mask_head={path!r} '
            f'({type(head).__name__}) must be an mmdet anchor head built '
            'with its train_cfg (e.g. RetinaHead, whose assigner marks '
            f'the ignored anchors); it lacks {missing}')
    return head


def anchor_position_masks(head: nn.Module, featmap_sizes: Sequence[tuple],
                          data_samples: Sequence,
                          device: torch.device) -> List[Tensor]:
    """Per level, a ``B x (H*W)`` bool mask: ``True`` at the positions that
    have at least one anchor the head's assigner does not ignore.

    The anchors and their assignment are those of the head's own loss
    (mmdet ``AnchorHead``: ``get_anchors``, the valid and inside flags with
    ``train_cfg['allowed_border']``, then ``assigner.assign`` on the gt and
    ignored instances of ``data_samples``): an anchor is ignored when its
    ``gt_inds`` is -1 (RetinaNet's ``MaxIoUAssigner``: best IoU in
    ``[neg_iou_thr, pos_iou_thr)``, or inside an ignored box) or when it is
    outside the image. Positions are row-major and each holds the head's
    ``num_base_priors`` anchors, as the head orders them.
    """
    from mmdet.models.task_modules.prior_generators import anchor_inside_flags
    from mmdet.models.utils import unpack_gt_instances
    from mmdet.structures.bbox import cat_boxes
    from mmengine.structures import InstanceData
    gts, gts_ignore, metas = unpack_gt_instances(data_samples)
    anchors, valid_flags = head.get_anchors(
        list(featmap_sizes), metas, device=device)
    counts = [level.shape[0] for level in anchors[0]]
    per_position = head.prior_generator.num_base_priors
    masks: List[List[Tensor]] = [[] for _ in featmap_sizes]
    for i, meta in enumerate(metas):
        flat = cat_boxes(anchors[i])
        inside = anchor_inside_flags(flat, torch.cat(valid_flags[i]),
                                     meta['img_shape'][:2],
                                     head.train_cfg['allowed_border'])
        gt_inds = torch.full((len(flat), ), -1, dtype=torch.long,
                             device=inside.device)
        if inside.any():
            result = head.assigner.assign(
                InstanceData(priors=flat[inside]), gts[i], gts_ignore[i])
            gt_inds[inside] = result.gt_inds.to(gt_inds)
        for level, used in enumerate((gt_inds != -1).split(counts)):
            masks[level].append(used.view(-1, per_position[level]).any(1))
    return [torch.stack(level) for level in masks]


def anchor_keep_mask(head: nn.Module, path: str, feats: Sequence[Tensor],
                     data_samples: Optional[Sequence]) -> Tensor:
    """B x P bool (levels concatenated): the positions of ``feats`` (the
    levels the anchor head ``head``, at ``path`` in the student, runs on)
    that have an anchor its assigner uses (:func:`anchor_position_masks`).
    """
    if any(f.dim() != 4 for f in feats):
        raise ValueError('LSHLoss: anchor_mask_head masks positions of '
                         'B x C x H x W maps; got shapes '
                         f'{[tuple(f.shape) for f in feats]}')
    num_levels = head.prior_generator.num_levels
    if len(feats) != num_levels:
        raise ValueError(
            f'LSHLoss: anchor_mask_head={path!r} has anchors on '
            f'{num_levels} levels but the loss got {len(feats)}; distil a '
            'module that runs once per level of that head (e.g. '
            "'bbox_head.cls_convs.3'), with level_reduction='mean'")
    if data_samples is None or len(data_samples) != feats[0].shape[0]:
        raise ValueError(
            'LSHLoss: anchor_mask_head needs the batch\'s data_samples '
            '(one per sample, with gt_instances) to assign anchors')
    masks = anchor_position_masks(head, [f.shape[2:] for f in feats],
                                  data_samples, feats[0].device)
    return torch.cat(masks, dim=1)
