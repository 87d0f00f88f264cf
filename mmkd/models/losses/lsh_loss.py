# Copyright (c) mmkd contributors. All rights reserved.
"""Feature mimicking with locality-sensitive hashing (LSH)."""
import difflib
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmkd.models.heads.linear_cls_head import gt_labels
from mmkd.registry import MODELS
from .base import BaseFeatureLoss
from .utils import check_positive

LSH_MODES = ('l2', 'lsh', 'lshl2')
LSH_BIAS_KINDS = ('median', 'zero')
LSH_LEVEL_REDUCTIONS = ('mean', 'sum')
LSH_HOOK_HINT = ("add custom_hooks=[dict(type='mmkd.LSHMedianBiasHook')] "
                 'to the config')


def _check_positive_int(name: str, value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f'LSHLoss: {name} must be an int >= 1, got '
                         f'{value!r}')
    return value


def _sample_vectors(feat: Tensor, kernel_size: int = 1) -> Tensor:
    """The feature vectors of each sample, B x P x D: P = 1 for a B x D
    batch, P = H*W for a B x C x H x W map (D = C * kernel_size^2, see
    :func:`feature_vectors`)."""
    if feat.dim() == 2:
        return feat[:, None, :]
    if kernel_size == 1:
        return feat.flatten(2).transpose(1, 2)
    return F.unfold(feat, kernel_size, padding=kernel_size // 2).transpose(
        1, 2)


def feature_vectors(feat: Tensor, kernel_size: int = 1) -> Tensor:
    """The feature vectors of a B x D batch (itself) or of a B x C x H x W
    map, as N x D, sample-major.

    For a map, each position gives one vector: its C-vector
    (``kernel_size=1``), or its ``k x k`` neighbourhood, zero-padded at the
    borders, as ``F.unfold`` orders it (channel-major, then the ``k x k``
    offsets row by row): ``D = C * k * k``, ``N = B * H * W``.
    """
    return _sample_vectors(feat, kernel_size).flatten(0, 1)


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
    from mmdet.models.task_modules.prior_generators import \
        anchor_inside_flags
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


@MODELS.register_module()
class LSHLoss(BaseFeatureLoss):
    """Feature mimicking with locality-sensitive hashing (LSHFM; Wang, Ge
    and Wu, "Distilling Knowledge by Mimicking Features", TPAMI 2021,
    arXiv 2011.01424: the LSH loss and its combination with L2, "LSHL2").

    A fixed random projection ``W`` (``num_bits`` x D, ``W ~ N(0,
    std^2)``) and bias ``b`` hash the teacher feature into bits
    ``h = 1[W ft + b > 0]``; the student is trained to produce the same
    bits (its feature's *direction* matters, its magnitude much less)::

        L_lsh = BCEWithLogits(W fs + b, h)      mean over bits
        L_l2  = mean_d (fs_d - ft_d)^2          mean over the D dims
        L     = L_l2 + L_lsh                    (mode 'lshl2', default)

    Both are per feature vector, then averaged over the vectors of a sample
    (one for B x D inputs; the positions of maps, as the paper does for
    dense detectors) and then over samples. With every sample counted this
    equals ``F.mse_loss(fs, ft)`` + the mean BCE over all vectors and bits,
    which is the reduction of the public code.

    **Dense maps** (e.g. the five FPN levels RetinaNet's head runs on):

    * ``unfold``: the vector of a position is its C-vector (1, default, the
      paper's per-position feature as ``docs/METHODS.md`` section 2 gives
      it) or its ``k x k`` neighbourhood,
      ``D = C * k * k`` (zero-padded, ordered as ``F.unfold``): 3 is the
      authors' RetinaNet code, whose 3 x 3 classifier conv sees exactly
      that neighbourhood at each position.
    * ``level_reduction``: ``'mean'`` (default): one mean over the
      positions of all levels of a sample (so the finest level dominates),
      then over samples; the loss takes all levels in one call
      (``joint_levels``). This is the paper's mean over feature vectors
      and the authors' code (one mean per image over the concatenated
      levels). ``'sum'``: one mean per level, the levels' losses summed by
      the distiller (mmkd's convention for losses called per level).
    * ``anchor_mask_head`` (e.g. ``'bbox_head'``, the path of an mmdet
      anchor head in the student): positions whose anchors are *all*
      ignored by that head's assigner (or outside the image) are left out;
      a sample with no position left counts for nothing, and a batch with
      none gives 0. This is the authors' RetinaNet code (not the paper's
      formula), which assigns the student's anchors as the detector's loss
      does: see :func:`anchor_position_masks`. The features must be the
      per-level outputs the head's anchors lie on, level for level (e.g.
      ``bbox_head.cls_convs.3``). Needs ``level_reduction='mean'`` (the
      assignment is over all levels at once) and the gt boxes in
      ``data_samples``. The authors' code also drops every image without
      gt box (its assignment is empty there); here all its anchors are
      negatives, so all its positions count.

    ``W`` and ``b`` are buffers (never trained, saved in checkpoints).

    * ``bias='median'`` (the paper's choice, default): ``b = -median(W ft)``
      per bit over the training data, so that each bit is 1 for half of the
      teacher features (the vectors the loss hashes: unfolded and masked as
      above). It is computed by
      :class:`~mmkd.engine.hooks.LSHMedianBiasHook` before the first
      iteration (and kept on resume: the buffer ``initialized`` is saved).
      ``bias='zero'`` (the public detection code) needs no data pass.
    * ``std_from='head.fc.weight'`` (the paper's CIFAR-100 setting, the std
      of the teacher's classifier weights): the same hook reads the std of
      that teacher parameter and redraws ``W`` with it before computing the
      medians. Give ``std`` (e.g. 0.06 on ImageNet) for a fixed value.
      Without the hook, a loss that needs either raises on its first call.
    * ``teacher_correct_only`` (the default of the public classification
      code; the paper's formula, our default, counts every sample): average
      only over the samples the teacher classifies correctly. It needs the
      teacher's logits: give the distill entry ``teacher_logits=PATH``
      (the teacher module whose output is the logits, e.g. ``'head.fc'``);
      the distiller records that module and sets :attr:`teacher_logits`
      before each call. Labels come from ``data_samples[i].gt_label``.
      A batch where the teacher is never right gives 0 (the public code
      gives NaN). The fraction of right samples is logged as
      ``teacher_acc``.

    If the student's width differs from the teacher's, give the distill
    entry a connector (``type='mmkd.LinearConnector'`` for vectors, the
    paper's ``feat_fc``; ``type='mmkd.ConvConnector'`` for maps; it runs
    before the unfolding).

    The loss is computed in at least float32 with autocast off, with the
    stable ``binary_cross_entropy_with_logits``: no overflow for large
    features (the public code notes NaN with RetinaNet in LSH mode).

    Args:
        in_channels (int): the teacher feature width (D of vectors, C of
            maps).
        mode (str): ``'lshl2'`` (L2 + LSH), ``'lsh'`` or ``'l2'``.
            Defaults to ``'lshl2'``.
        num_bits (int, optional): Nb, the number of hash bits. Defaults to
            32 x the vector size (``in_channels * unfold^2``; the paper's
            CIFAR-100 setting). The paper: 2048 on ImageNet, 4096 for
            Faster R-CNN's 1024-d RoI features; the authors' detection code
            defaults to 4 x the vector size, and their RetinaNet runs pass
            4096 for 2304-d (3 x 3 x 256) vectors. Not for ``'l2'``.
        std (float, optional): std of ``W``. Give this or ``std_from`` for
            the LSH modes.
        std_from (str, optional): name of a teacher parameter (as in
            ``teacher.named_parameters()``) whose std is used, resolved by
            :class:`~mmkd.engine.hooks.LSHMedianBiasHook`.
        bias (str): ``'median'`` or ``'zero'``. Defaults to ``'median'``.
        teacher_correct_only (bool): average over the samples the teacher
            classifies correctly only. Defaults to False.
        unfold (int): odd k; each position's vector is its k x k
            neighbourhood (maps only). Defaults to 1.
        level_reduction (str): ``'mean'`` or ``'sum'`` over the levels of
            the entry. Defaults to ``'mean'``.
        anchor_mask_head (str, optional): path in the student of the mmdet
            anchor head whose assignment masks positions. Defaults to None.
        seed (int): seed of ``W`` (independent of the global RNG, so the
            same config always gives the same hash). Defaults to 0.
        loss_weight (float): beta of the paper (6 on CIFAR-100, 5 on
            ImageNet, 7 for Faster R-CNN and RetinaNet R101 -> R50).
            Defaults to 1.0.
    """
    accepts_vectors = True

    def __init__(self,
                 in_channels: int,
                 mode: str = 'lshl2',
                 num_bits: Optional[int] = None,
                 std: Optional[float] = None,
                 std_from: Optional[str] = None,
                 bias: str = 'median',
                 teacher_correct_only: bool = False,
                 unfold: int = 1,
                 level_reduction: str = 'mean',
                 anchor_mask_head: Optional[str] = None,
                 seed: int = 0,
                 loss_weight: float = 1.0) -> None:
        super().__init__(loss_weight=loss_weight)
        self.in_channels = _check_positive_int('in_channels', in_channels)
        if mode not in LSH_MODES:
            raise ValueError(f'LSHLoss: unknown mode {mode!r}; choose one of '
                             f'{LSH_MODES} (lshl2 = L2 + LSH)')
        if bias not in LSH_BIAS_KINDS:
            raise ValueError(f'LSHLoss: unknown bias {bias!r}; choose one of '
                             f'{LSH_BIAS_KINDS}')
        if not isinstance(teacher_correct_only, bool):
            raise TypeError('LSHLoss: teacher_correct_only must be a bool, '
                            f'got {teacher_correct_only!r}')
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise TypeError(f'LSHLoss: seed must be an int, got {seed!r}')
        self._set_dense_options(unfold, level_reduction, anchor_mask_head)
        self.mode = mode
        self.bias = bias
        self.teacher_correct_only = teacher_correct_only
        self.seed = seed
        self.std_from = std_from
        # set by the distiller before each call when teacher_correct_only
        self.teacher_logits: Optional[Tensor] = None
        if mode == 'l2':
            given = [name for name, value in (('num_bits', num_bits),
                                              ('std', std),
                                              ('std_from', std_from))
                     if value is not None]
            if given:
                raise ValueError(
                    f"LSHLoss: mode='l2' has no hash projection, so "
                    f'{given} would be ignored; remove them or use '
                    "mode='lshl2'")
            self.num_bits = 0
            self.std = None
            self.register_buffer('initialized', torch.tensor(True))
            return
        self.num_bits = _check_positive_int(
            'num_bits', 32 * self.vector_dim if num_bits is None else num_bits)
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
        self.std = None if std is None else check_positive(
            'LSHLoss', 'std', std)
        self.register_buffer(
            'proj_weight', torch.empty(self.num_bits, self.vector_dim))
        self.register_buffer('proj_bias', torch.zeros(self.num_bits))
        self.reset_projection(1.0 if std is None else self.std)
        # True once W and b are final (std resolved, median bias computed)
        self.register_buffer('initialized',
                             torch.tensor(not self.needs_data_init))

    # ------------------------------------------------------------- set-up
    def _set_dense_options(self, unfold, level_reduction,
                           anchor_mask_head) -> None:
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
        if anchor_mask_head is not None:
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
        self.unfold = unfold
        self.vector_dim = self.in_channels * unfold**2
        self.level_reduction = level_reduction
        self.anchor_mask_head = anchor_mask_head
        # the student's anchor head, set by bind_models; not a submodule
        object.__setattr__(self, '_anchor_head', None)

    @property
    def joint_levels(self) -> bool:
        """All levels of the entry in one call, for one mean over them."""
        return self.level_reduction == 'mean'

    def bind_models(self, student: nn.Module, teacher: nn.Module) -> None:
        """Look up the student's anchor head named by
        :attr:`anchor_mask_head` (if any) and check it can assign anchors.
        """
        if self.anchor_mask_head is None:
            return
        path = self.anchor_mask_head
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
        object.__setattr__(self, '_anchor_head', head)

    @property
    def batch_separable(self) -> bool:
        """A mean over samples, unless weighted by the teacher's
        correctness (then a mean over the correct ones only)."""
        return not self.teacher_correct_only

    @property
    def needs_teacher_logits(self) -> bool:
        """Whether the distiller must set :attr:`teacher_logits`."""
        return self.teacher_correct_only

    @property
    def needs_data_init(self) -> bool:
        """Whether :class:`LSHMedianBiasHook` must initialise the loss
        (``std_from`` to resolve or a median bias to compute)."""
        return self.mode != 'l2' and (self.std_from is not None
                                      or self.bias == 'median')

    def reset_projection(self, std: float) -> None:
        """(Re)draw ``W ~ N(0, std^2)`` from :attr:`seed`."""
        std = check_positive('LSHLoss', 'std', std)
        gen = torch.Generator().manual_seed(self.seed)
        weight = torch.randn(self.num_bits, self.vector_dim, generator=gen)
        self.proj_weight.copy_(weight * std)

    def resolve_std(self, teacher: nn.Module) -> float:
        """The std of the teacher parameter named by :attr:`std_from`."""
        params = dict(teacher.named_parameters())
        if self.std_from not in params:
            close = difflib.get_close_matches(self.std_from, list(params),
                                              n=5, cutoff=0.3)
            raise ValueError(
                f'LSHLoss: std_from={self.std_from!r} is not a parameter of '
                f'the teacher; closest names: {close}')
        param = params[self.std_from].detach()
        if param.numel() < 2:
            raise ValueError(f'LSHLoss: std_from={self.std_from!r} has '
                             f'{param.numel()} element(s); its std is '
                             'undefined')
        return float(param.double().std())

    # ------------------------------------------------------------ vectors
    def vectors(self, feat: Tensor) -> Tensor:
        """The feature vectors the loss hashes in ``feat``, N x
        :attr:`vector_dim`: the rows of N x D vectors, or the positions of
        a B x C x H x W map (unfolded, see :func:`feature_vectors`)."""
        size, what = (self.vector_dim, 'vectors of size') \
            if feat.dim() == 2 else (self.in_channels, 'maps of C =')
        if feat.dim() not in (2, 4) or feat.shape[1] != size:
            raise ValueError(f'LSHLoss: N x D vectors or B x C x H x W maps '
                             f'expected ({what} {size}), got shape '
                             f'{tuple(feat.shape)}')
        return feature_vectors(feat, self.unfold)

    def hashed_vectors(self,
                       feats: Sequence[Tensor],
                       data_samples: Optional[Sequence] = None) -> Tensor:
        """The vectors the loss hashes in one call on the levels ``feats``
        (all levels of an entry with ``level_reduction='mean'``, else one):
        unfolded, without the masked positions, N x :attr:`vector_dim`.
        """
        vectors = self._level_vectors(feats)
        keep = self._position_mask(feats, data_samples)
        return vectors.flatten(0, 1) if keep is None else vectors[keep]

    def projections(self, feat: Tensor) -> Tensor:
        """``W f`` (no bias) of the vectors of ``feat`` (see
        :meth:`vectors`), N x ``num_bits``."""
        vectors = self.vectors(feat)
        dtype = torch.promote_types(vectors.dtype, torch.float32)
        return F.linear(vectors.to(dtype), self.proj_weight.to(dtype))

    @torch.no_grad()
    def set_median_bias(self, projections: Tensor) -> None:
        """``b = -median(W ft)`` per bit over the rows of ``projections``
        (N x ``num_bits``, from :meth:`projections` of teacher features),
        then mark the loss initialised."""
        if projections.dim() != 2 or projections.shape[1] != self.num_bits \
                or projections.shape[0] == 0:
            raise ValueError(
                f'LSHLoss: expected N x {self.num_bits} teacher projections '
                f'(N >= 1), got {tuple(projections.shape)}')
        median = projections.median(dim=0).values
        self.proj_bias.copy_(-median.to(self.proj_bias))
        self.initialized.fill_(True)

    def _level_vectors(self, feats: Sequence[Tensor]) -> Tensor:
        """B x P x D: the vectors of each sample, levels concatenated."""
        return torch.cat([_sample_vectors(f, self.unfold) for f in feats],
                         dim=1)

    def _position_mask(self, feats: Sequence[Tensor],
                       data_samples: Optional[Sequence]) -> Optional[Tensor]:
        """B x P bool (levels concatenated): the positions kept by the
        anchor mask; None without ``anchor_mask_head``."""
        if self.anchor_mask_head is None:
            return None
        head = self._anchor_head
        if head is None:
            raise RuntimeError(
                f'LSHLoss(anchor_mask_head={self.anchor_mask_head!r}) is not '
                'bound to a student: the distiller calls '
                '`loss.bind_models(student, teacher)` when it is built; do '
                'so when calling the loss by hand')
        if any(f.dim() != 4 for f in feats):
            raise ValueError('LSHLoss: anchor_mask_head masks positions of '
                             'B x C x H x W maps; got shapes '
                             f'{[tuple(f.shape) for f in feats]}')
        num_levels = head.prior_generator.num_levels
        if len(feats) != num_levels:
            raise ValueError(
                f'LSHLoss: anchor_mask_head={self.anchor_mask_head!r} has '
                f'anchors on {num_levels} levels but the loss got '
                f'{len(feats)}; distil a module that runs once per level of '
                "that head (e.g. 'bbox_head.cls_convs.3'), with "
                "level_reduction='mean'")
        if data_samples is None or len(data_samples) != feats[0].shape[0]:
            raise ValueError(
                'LSHLoss: anchor_mask_head needs the batch\'s data_samples '
                '(one per sample, with gt_instances) to assign anchors')
        masks = anchor_position_masks(head, [f.shape[2:] for f in feats],
                                      data_samples, feats[0].device)
        return torch.cat(masks, dim=1)

    # -------------------------------------------------------------- forward
    def check_inputs(self, student_feat: Tensor, teacher_feat: Tensor) -> None:
        if isinstance(student_feat, Tensor) and isinstance(
                teacher_feat, Tensor) and student_feat.dim() == \
                teacher_feat.dim() and student_feat.dim() in (2, 4) and \
                student_feat.shape[1] != teacher_feat.shape[1]:
            kind = ('LinearConnector', 'in_features', 'out_features') \
                if student_feat.dim() == 2 else \
                ('ConvConnector', 'in_channels', 'out_channels')
            raise ValueError(
                f'LSHLoss: the student feature has {student_feat.shape[1]} '
                f'channels and the teacher feature {teacher_feat.shape[1]}; '
                f"add connector=dict(type='mmkd.{kind[0]}', "
                f'{kind[1]}={student_feat.shape[1]}, '
                f'{kind[2]}={teacher_feat.shape[1]}) to the distill entry')
        super().check_inputs(student_feat, teacher_feat)
        if teacher_feat.shape[1] != self.in_channels:
            raise ValueError(
                f'LSHLoss was built with in_channels={self.in_channels} but '
                f'the features have {teacher_feat.shape[1]} (shape '
                f'{tuple(teacher_feat.shape)}); set in_channels to the '
                "teacher's feature width")
        if teacher_feat.dim() == 2 and self.unfold != 1:
            raise ValueError(
                f'LSHLoss: unfold={self.unfold} takes the neighbourhood of '
                'each position of a B x C x H x W map, but the features are '
                f'B x D vectors {tuple(teacher_feat.shape)}; use unfold=1')

    def compute(self,
                student_feat: Tensor,
                teacher_feat: Tensor,
                data_samples: Optional[Sequence] = None) -> Tensor:
        return self.compute_levels([student_feat], [teacher_feat],
                                   data_samples)

    def compute_levels(self,
                       student_feats: List[Tensor],
                       teacher_feats: List[Tensor],
                       data_samples: Optional[Sequence] = None) -> Tensor:
        """Per sample, the mean over its (kept) vectors of all the levels
        given; then the mean over the samples with at least one vector
        (only those the teacher is right on, with ``teacher_correct_only``).
        """
        if not bool(self.initialized):
            raise RuntimeError(
                f'LSHLoss (bias={self.bias!r}, std_from={self.std_from!r}) '
                'is not initialised: its projection/bias come from the '
                f'teacher and the training data; {LSH_HOOK_HINT}, or use '
                "bias='zero' with a fixed std")
        num = student_feats[0].shape[0]
        if any(f.shape[0] != num for f in student_feats):
            raise ValueError('LSHLoss: the levels have different batch '
                             f'sizes {[f.shape[0] for f in student_feats]}')
        dtype = torch.promote_types(student_feats[0].dtype, torch.float32)
        with torch.autocast(student_feats[0].device.type, enabled=False):
            fs = self._level_vectors([f.to(dtype) for f in student_feats])
            ft = self._level_vectors([f.to(dtype) for f in teacher_feats])
            keep = self._position_mask(teacher_feats, data_samples)
            if keep is None:
                counts = torch.full((num, ), fs.shape[1], device=fs.device)
                fs, ft = fs.flatten(0, 1), ft.flatten(0, 1)
            else:  # N x D, sample-major
                counts = keep.sum(dim=1)
                fs, ft = fs[keep], ft[keep]
            owner = torch.repeat_interleave(
                torch.arange(num, device=counts.device), counts)
            per_vector = fs.new_zeros(fs.shape[0])
            if self.mode != 'lsh':
                l2 = (fs - ft).pow(2).mean(dim=1)
                per_vector = per_vector + l2
            if self.mode != 'l2':
                lsh = self._hash_loss(fs, ft)
                per_vector = per_vector + lsh
            per_sample = fs.new_zeros(num).index_add(
                0, owner, per_vector) / counts.clamp(min=1)
            weights = (counts > 0).to(dtype)
            correct = self._sample_weights(num, data_samples, fs)
            if correct is not None:
                weights = weights * correct
        if self.mode == 'lshl2':
            denom = max(per_vector.shape[0], 1)
            self.record_log_var('l2', l2.sum() / denom)
            self.record_log_var('lsh', lsh.sum() / denom)
        if correct is not None:
            self.record_log_var('teacher_acc', correct.mean())
        return (per_sample * weights).sum() / weights.sum().clamp(min=1)

    def _hash_loss(self, fs: Tensor, ft: Tensor) -> Tensor:
        """BCE-with-logits of the student's hash logits against the
        teacher's bits, averaged over bits: one value per vector."""
        weight = self.proj_weight.to(fs.dtype)
        bias = self.proj_bias.to(fs.dtype)
        with torch.no_grad():
            bits = (F.linear(ft, weight, bias) > 0).to(fs.dtype)
        logits = F.linear(fs, weight, bias)
        return F.binary_cross_entropy_with_logits(
            logits, bits, reduction='none').mean(dim=1)

    def _sample_weights(self, num: int, data_samples: Optional[Sequence],
                        like: Tensor) -> Optional[Tensor]:
        """1 for the samples the teacher classifies correctly, else 0
        (None when every sample counts)."""
        if not self.teacher_correct_only:
            return None
        logits = self.teacher_logits
        if not isinstance(logits, Tensor):
            raise RuntimeError(
                'LSHLoss(teacher_correct_only=True) needs the teacher '
                "logits: give the distill entry teacher_logits='head.fc' "
                '(the teacher module that outputs the logits), or set '
                '`loss.teacher_logits` before calling the loss')
        if logits.dim() != 2 or logits.shape[0] != num:
            raise ValueError(
                f'LSHLoss: teacher_logits must be {num} x C (one row per '
                f'sample), got {tuple(logits.shape)}')
        if data_samples is None:
            raise ValueError('LSHLoss(teacher_correct_only=True) needs '
                             'data_samples with gt_label (classification '
                             'data)')
        labels = gt_labels(data_samples).to(like.device)
        if labels.shape[0] != num:
            raise ValueError(f'LSHLoss: {labels.shape[0]} labels for a '
                             f'batch of {num} samples')
        correct = logits.detach().argmax(dim=1).to(like.device) == labels
        return correct.to(like.dtype)
