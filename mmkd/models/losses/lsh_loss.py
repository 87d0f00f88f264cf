# Copyright (c) mmkd contributors. All rights reserved.
"""Feature mimicking with locality-sensitive hashing (LSH)."""
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmkd.registry import MODELS
from .base import BaseFeatureLoss
# yapf: disable
from .lsh_hashing import (LSH_BIAS_KINDS, LSH_HOOK_HINT, LSH_MODES,
                          anchor_keep_mask, check_dense_options,
                          check_positive_int, check_projection_options,
                          feature_vectors, find_anchor_head, hash_loss,
                          level_vectors, parameter_std, random_projection,
                          sample_means, select_vectors,
                          teacher_correct_weights)
# yapf: enable
from .utils import check_positive


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
      does: see :func:`~.lsh_hashing.anchor_position_masks`. The
      features must be the per-level outputs the head's anchors lie on,
      level for level (e.g. ``bbox_head.cls_convs.3``). Needs
      ``level_reduction='mean'`` (the assignment is over all levels at
      once) and the gt boxes in ``data_samples``. The authors' code also
      drops every image without gt box (its assignment is empty there);
      here all its anchors are negatives, so all its positions count.

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
      teacher's logits and the labels (``needs_teacher_logits`` and
      ``needs_labels``): each call takes ``teacher_logits=`` (B x C) and
      ``labels=`` (B class indices). In a distiller, give the distill entry
      ``teacher_logits=PATH`` (the teacher module whose output is the
      logits, e.g. ``'head.fc'``): the distiller records that module and
      passes its output, and the labels of ``data_samples[i].gt_label``,
      to each call. A batch where the teacher is never right gives 0 (the
      public code gives NaN). The fraction of right samples is logged as
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

    def __init__(self, in_channels: int, mode: str = 'lshl2',
                 num_bits: Optional[int] = None, std: Optional[float] = None,
                 std_from: Optional[str] = None, bias: str = 'median',
                 teacher_correct_only: bool = False, unfold: int = 1,
                 level_reduction: str = 'mean',
                 anchor_mask_head: Optional[str] = None, seed: int = 0,
                 loss_weight: float = 1.0) -> None:
        super().__init__(loss_weight=loss_weight)
        self.in_channels = check_positive_int('in_channels', in_channels)
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
        check_dense_options(unfold, level_reduction, anchor_mask_head)
        self.unfold = unfold
        self.vector_dim = self.in_channels * unfold**2
        self.level_reduction = level_reduction
        self.anchor_mask_head = anchor_mask_head
        # the student's anchor head, set by bind_models; not a submodule
        object.__setattr__(self, '_anchor_head', None)
        self.mode = mode
        self.bias = bias
        self.teacher_correct_only = teacher_correct_only
        self.seed = seed
        self.std_from = std_from
        if mode != 'l2' and num_bits is None:
            num_bits = 32 * self.vector_dim
        self.std = check_projection_options(mode, num_bits, std, std_from)
        if mode == 'l2':
            self.num_bits = 0
            self.register_buffer('initialized', torch.tensor(True))
            return
        self.num_bits = num_bits
        self.register_buffer('proj_weight',
                             torch.empty(self.num_bits, self.vector_dim))
        self.register_buffer('proj_bias', torch.zeros(self.num_bits))
        self.reset_projection(1.0 if std is None else self.std)
        # True once W and b are final (std resolved, median bias computed)
        self.register_buffer('initialized',
                             torch.tensor(not self.needs_data_init))

    # ------------------------------------------------------------- set-up
    @property
    def joint_levels(self) -> bool:
        """All levels of the entry in one call, for one mean over them."""
        return self.level_reduction == 'mean'

    def bind_models(self, student: nn.Module, teacher: nn.Module) -> None:
        """Look up the student's anchor head named by
        :attr:`anchor_mask_head` (if any) and check it can assign anchors.
        """
        if self.anchor_mask_head is not None:
            object.__setattr__(
                self, '_anchor_head',
                find_anchor_head(student, self.anchor_mask_head))

    @property
    def batch_separable(self) -> bool:
        """A mean over samples, unless weighted by the teacher's
        correctness (then a mean over the correct ones only)."""
        return not self.teacher_correct_only

    @property
    def needs_teacher_logits(self) -> bool:
        """Each call takes ``teacher_logits=`` (``teacher_correct_only``).
        """
        return self.teacher_correct_only

    @property
    def needs_labels(self) -> bool:
        """Each call takes ``labels=`` (``teacher_correct_only``)."""
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
        self.proj_weight.copy_(
            random_projection(self.num_bits, self.vector_dim, self.seed, std))

    def resolve_std(self, teacher: nn.Module) -> float:
        """The std of the teacher parameter named by :attr:`std_from`."""
        return parameter_std(teacher, self.std_from)

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

    def hashed_vectors(self, feats: Sequence[Tensor],
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
        return level_vectors(feats, self.unfold)

    def _position_mask(self, feats: Sequence[Tensor],
                       data_samples: Optional[Sequence]) -> Optional[Tensor]:
        """B x P bool (levels concatenated): the positions kept by the
        anchor mask; None without ``anchor_mask_head``."""
        if self.anchor_mask_head is None:
            return None
        if self._anchor_head is None:
            raise RuntimeError(
                f'LSHLoss(anchor_mask_head={self.anchor_mask_head!r}) is not '
                'bound to a student: the distiller calls '
                '`loss.bind_models(student, teacher)` when it is built; do '
                'so when calling the loss by hand')
        return anchor_keep_mask(self._anchor_head, self.anchor_mask_head,
                                feats, data_samples)

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

    def compute(self, student_feat: Tensor, teacher_feat: Tensor,
                data_samples: Optional[Sequence] = None,
                teacher_logits: Optional[Tensor] = None,
                labels: Optional[Tensor] = None) -> Tensor:
        return self.compute_levels([student_feat], [teacher_feat],
                                   data_samples, teacher_logits, labels)

    def compute_levels(self, student_feats: List[Tensor],
                       teacher_feats: List[Tensor],
                       data_samples: Optional[Sequence] = None,
                       teacher_logits: Optional[Tensor] = None,
                       labels: Optional[Tensor] = None) -> Tensor:
        """Per sample, the mean over its (kept) vectors of all the levels
        given; then the mean over the samples with at least one vector
        (only those the teacher is right on, with ``teacher_correct_only``:
        ``teacher_logits`` B x C and ``labels`` B).
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
            fs, ft, counts = select_vectors(fs, ft, keep)  # sample-major
            per_vector = fs.new_zeros(fs.shape[0])
            if self.mode != 'lsh':
                l2 = (fs - ft).pow(2).mean(dim=1)
                per_vector = per_vector + l2
            if self.mode != 'l2':
                lsh = hash_loss(fs, ft, self.proj_weight, self.proj_bias)
                per_vector = per_vector + lsh
            per_sample = sample_means(per_vector, counts)
            weights = (counts > 0).to(dtype)
            correct = None
            if self.teacher_correct_only:
                correct = teacher_correct_weights(teacher_logits, labels, num,
                                                  fs)
                weights = weights * correct
        if self.mode == 'lshl2':
            denom = max(per_vector.shape[0], 1)
            self.record_log_var('l2', l2.sum() / denom)
            self.record_log_var('lsh', lsh.sum() / denom)
        if correct is not None:
            self.record_log_var('teacher_acc', correct.mean())
        return (per_sample * weights).sum() / weights.sum().clamp(min=1)
