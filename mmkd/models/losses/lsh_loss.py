# Copyright (c) mmkd contributors. All rights reserved.
"""Feature mimicking with locality-sensitive hashing (LSH)."""
import difflib
from typing import Optional, Sequence

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
LSH_HOOK_HINT = ("add custom_hooks=[dict(type='mmkd.LSHMedianBiasHook')] "
                 'to the config')


def _check_positive_int(name: str, value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f'LSHLoss: {name} must be an int >= 1, got '
                         f'{value!r}')
    return value


def feature_vectors(feat: Tensor) -> Tensor:
    """The feature vectors of a B x D batch (itself) or of a B x C x H x W
    map (every C-vector at each position: (B*H*W) x C, sample-major)."""
    if feat.dim() == 4:
        return feat.permute(0, 2, 3, 1).reshape(-1, feat.shape[1])
    return feat


@MODELS.register_module()
class LSHLoss(BaseFeatureLoss):
    """Feature mimicking with locality-sensitive hashing (LSHFM; Wang, Ge
    and Wu, "Distilling Knowledge by Mimicking Features", TPAMI 2021,
    arXiv 2011.01424: the LSH loss and its combination with L2, "LSHL2").

    A fixed random projection ``W`` (``num_bits`` x ``in_channels``,
    ``W ~ N(0, std^2)``) and bias ``b`` hash the teacher feature into bits
    ``h = 1[W ft + b > 0]``; the student is trained to produce the same
    bits (its feature's *direction* matters, its magnitude much less)::

        L_lsh = BCEWithLogits(W fs + b, h)      mean over bits
        L_l2  = mean_d (fs_d - ft_d)^2          mean over the D dims
        L     = L_l2 + L_lsh                    (mode 'lshl2', default)

    Both are per feature vector, then averaged over the vectors of a sample
    (one for B x D inputs; H*W for maps, where every C-vector at each
    position is one feature, as the paper does for dense detectors) and
    then over samples. With every sample counted this equals
    ``F.mse_loss(fs, ft)`` + the mean BCE over all vectors and bits, which
    is the reduction of the public code.

    ``W`` and ``b`` are buffers (never trained, saved in checkpoints).

    * ``bias='median'`` (the paper's choice, default): ``b = -median(W ft)``
      per bit over the training data, so that each bit is 1 for half of the
      teacher features. It is computed by
      :class:`~mmkd.engine.hooks.LSHMedianBiasHook` before the first
      iteration (and kept on resume: the buffer ``initialized`` is saved).
      ``bias='zero'`` (an option of the public code) needs no data pass.
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
    paper's ``feat_fc``; ``type='mmkd.ConvConnector'`` for maps).

    The loss is computed in at least float32 with autocast off, with the
    stable ``binary_cross_entropy_with_logits``: no overflow for large
    features (the public code notes NaN with RetinaNet in LSH mode).

    Args:
        in_channels (int): D, the teacher feature width (C for maps).
        mode (str): ``'lshl2'`` (L2 + LSH), ``'lsh'`` or ``'l2'``.
            Defaults to ``'lshl2'``.
        num_bits (int, optional): Nb, the number of hash bits. Defaults to
            ``32 * in_channels`` (the paper's CIFAR-100 setting; 2048 on
            ImageNet, 4096 for Faster R-CNN RoI features). Not for ``'l2'``.
        std (float, optional): std of ``W``. Give this or ``std_from`` for
            the LSH modes.
        std_from (str, optional): name of a teacher parameter (as in
            ``teacher.named_parameters()``) whose std is used, resolved by
            :class:`~mmkd.engine.hooks.LSHMedianBiasHook`.
        bias (str): ``'median'`` or ``'zero'``. Defaults to ``'median'``.
        teacher_correct_only (bool): average over the samples the teacher
            classifies correctly only. Defaults to False.
        seed (int): seed of ``W`` (independent of the global RNG, so the
            same config always gives the same hash). Defaults to 0.
        loss_weight (float): beta of the paper (6 on CIFAR-100, 5 on
            ImageNet, 7 for Faster R-CNN). Defaults to 1.0.
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
            'num_bits', 32 * in_channels if num_bits is None else num_bits)
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
            'proj_weight', torch.empty(self.num_bits, self.in_channels))
        self.register_buffer('proj_bias', torch.zeros(self.num_bits))
        self.reset_projection(1.0 if std is None else self.std)
        # True once W and b are final (std resolved, median bias computed)
        self.register_buffer('initialized',
                             torch.tensor(not self.needs_data_init))

    # ------------------------------------------------------------- set-up
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
        weight = torch.randn(self.num_bits, self.in_channels, generator=gen)
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

    def projections(self, feat: Tensor) -> Tensor:
        """``W f`` (no bias) of every feature vector of ``feat`` (B x D or
        B x C x H x W), as N x ``num_bits``."""
        vectors = feature_vectors(feat)
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

    def compute(self,
                student_feat: Tensor,
                teacher_feat: Tensor,
                data_samples: Optional[Sequence] = None) -> Tensor:
        if not bool(self.initialized):
            raise RuntimeError(
                f'LSHLoss (bias={self.bias!r}, std_from={self.std_from!r}) '
                'is not initialised: its projection/bias come from the '
                f'teacher and the training data; {LSH_HOOK_HINT}, or use '
                "bias='zero' with a fixed std")
        num = student_feat.shape[0]
        dtype = torch.promote_types(student_feat.dtype, torch.float32)
        with torch.autocast(student_feat.device.type, enabled=False):
            fs = feature_vectors(student_feat).to(dtype)
            ft = feature_vectors(teacher_feat).to(dtype)
            per_vector = fs.new_zeros(fs.shape[0])
            if self.mode != 'lsh':
                l2 = (fs - ft).pow(2).mean(dim=1)
                per_vector = per_vector + l2
            if self.mode != 'l2':
                lsh = self._hash_loss(fs, ft)
                per_vector = per_vector + lsh
            per_sample = per_vector.view(num, -1).mean(dim=1)
            weights = self._sample_weights(num, data_samples, fs)
        if self.mode == 'lshl2':
            self.record_log_var('l2', l2.mean())
            self.record_log_var('lsh', lsh.mean())
        if weights is None:
            return per_sample.mean()
        self.record_log_var('teacher_acc', weights.mean())
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
