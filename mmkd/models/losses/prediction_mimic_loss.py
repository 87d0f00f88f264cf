# Copyright (c) mmkd contributors. All rights reserved.
"""Prediction mimicking on a dense detection head: the student's
predictions (or, in CrossKD, the cross-head ones) against the teacher's."""
from typing import Dict, List, Optional

import torch
import torch.nn as nn
from torch import Tensor

from mmkd.models.head_splits import (BaseHeadSplit, DenseTargets,
                                     LevelPredictions, build_head_split, flat)
from mmkd.registry import MODELS
from .box_distribution_kl_loss import BoxDistributionKLLoss
from .head_loss_base import BaseHeadLoss

REG_WEIGHTS = ('teacher', 'student')
REG_REGIONS = ('valid', 'positive')
DISTRIBUTION_NORMS = ('weight_sum', 'none')


def _build(cfg: Optional[dict], what: str, where: str) -> Optional[nn.Module]:
    if cfg is None:
        return None
    try:
        return MODELS.build(cfg)
    except KeyError as err:
        raise KeyError(f'{where}: cannot build {what} {cfg.get("type")!r} '
                       f'({err}); e.g. mmkd.KDQualityFocalLoss, '
                       'mmkd.BoxDistributionKLLoss, mmdet.GIoULoss, '
                       'mmdet.IoULoss, mmdet.CrossEntropyLoss') from None


@MODELS.register_module()
class PredictionMimicLoss(BaseHeadLoss):
    r"""The student head's predictions mimic the teacher's, prior by prior,
    with the student head's own priors and label assignment (one assignment
    per batch for all the parts).

    Per level, with :math:`z^t` the teacher's class logits, :math:`w` the
    label weights of the student head's assignment and ``avg_factor`` its
    normaliser:

    * ``loss_cls`` (e.g. :class:`KDQualityFocalLoss`) on the class logits,
      weighted by :math:`w`, over ``avg_factor``;
    * ``loss_reg`` on the boxes, weighted per prior by
      :math:`r = \max_c \sigma(z_c)` of the teacher's (``reg_weight=
      'teacher'``, CrossKD) or the student's (``'student'``, detached, as
      mmdet's LD) logits, kept where :math:`w > 0` (``reg_region='valid'``)
      or at the positives only (``'positive'``, LD). Decoded boxes with the
      head's ``bbox_coder`` (GIoU or IoU loss) over ``avg_factor``, or, for
      GFL's distributions, :class:`BoxDistributionKLLoss` per side over 4,
      the sum over the levels then divided by :math:`\sum r` of all levels
      (``distribution_norm='weight_sum'``, averaged over processes, at
      least 1: CrossKD's GFL code divides by its local sum) or not
      (``'none'``: mmdet's ``LDHead``, whose ``loss_ld`` is not divided);
    * ``loss_ctr`` (ATSS, FCOS) on the centerness logits of the positives
      against the teacher's sigmoid, over ``avg_factor``.

    With the student's own predictions this is LD (Zheng et al., CVPR
    2022) on GFL and plain prediction mimicking on any head mmkd can split
    (:mod:`mmkd.models.head_splits`); :class:`CrossKDLoss` puts the
    cross-head predictions in their place.

    Args:
        loss_cls (dict, optional): the class loss; None: none.
        loss_reg (dict, optional): the box loss; None: none.
        loss_ctr (dict, optional): the centerness loss; None: none.
        reg_weight (str): ``'teacher'`` or ``'student'``. Defaults to
            ``'teacher'``.
        reg_region (str): ``'valid'`` or ``'positive'``. Defaults to
            ``'valid'``.
        distribution_norm (str): ``'weight_sum'`` or ``'none'`` (GFL's
            distributions only). Defaults to ``'weight_sum'``.
        loss_weight (float): multiplies the sum of the parts. Defaults to
            1.0.
    """

    def __init__(self, loss_cls: Optional[dict] = dict(
        type='mmkd.KDQualityFocalLoss',
        beta=1.0), loss_reg: Optional[dict] = dict(type='mmdet.GIoULoss'),
                 loss_ctr: Optional[dict] = None, reg_weight: str = 'teacher',
                 reg_region: str = 'valid',
                 distribution_norm: str = 'weight_sum',
                 loss_weight: float = 1.0) -> None:
        super().__init__(loss_weight)
        where = type(self).__name__
        for name, value, allowed in (('reg_weight', reg_weight, REG_WEIGHTS),
                                     ('reg_region', reg_region, REG_REGIONS),
                                     ('distribution_norm', distribution_norm,
                                      DISTRIBUTION_NORMS)):
            if value not in allowed:
                raise ValueError(f'{where}: {name} must be one of {allowed}, '
                                 f'got {value!r}')
        if loss_cls is None and loss_reg is None and loss_ctr is None:
            raise ValueError(f'{where}: give at least one of loss_cls, '
                             'loss_reg, loss_ctr')
        self.loss_cls = _build(loss_cls, 'loss_cls', where)
        self.loss_reg = _build(loss_reg, 'loss_reg', where)
        self.loss_ctr = _build(loss_ctr, 'loss_ctr', where)
        self.reg_weight = reg_weight
        self.reg_region = reg_region
        self.distribution_norm = distribution_norm
        self._splits: Dict[str, BaseHeadSplit] = {}

    # ---------------------------------------------------------------- setup
    def split_at(self) -> Optional[int]:
        """The stacked conv the heads are split after (None: not split)."""
        return None

    def bind_heads(self, student_head: nn.Module, teacher_head: nn.Module,
                   where: str) -> None:
        splits = {
            side: build_head_split(head, self.split_at(), f'{where} ({side})')
            for side, head in (('student', student_head), ('teacher',
                                                           teacher_head))
        }
        s_split, t_split = splits['student'], splits['teacher']
        s_name, t_name = (type(s.head).__name__ for s in (s_split, t_split))
        if s_split.cls_channels != t_split.cls_channels:
            raise ValueError(
                f'{where}: the student {s_name} predicts '
                f'{s_split.cls_channels} class scores per prior and the '
                f'teacher {t_name} {t_split.cls_channels}: head-level '
                'distillation compares them class by class; give the '
                'student the teacher\'s num_classes (and class order)')
        s_layout, t_layout = s_split.layout(), t_split.layout()
        if s_layout != t_layout:
            diff = {
                key: (s_layout[key], t_layout[key])
                for key in s_layout if s_layout[key] != t_layout[key]
            }
            raise ValueError(
                f'{where}: the student and teacher heads lay their priors '
                f'out differently, so their predictions cannot be compared '
                f'prior by prior: (student, teacher) {diff}. Give the '
                "student the teacher's head type, anchor_generator (or "
                'strides) and reg_max')
        if self.loss_reg is not None:
            wants_dist = s_split.box_kind == 'distribution'
            if wants_dist != isinstance(self.loss_reg, BoxDistributionKLLoss):
                fix = ("loss_reg=dict(type='mmkd.BoxDistributionKLLoss')"
                       if wants_dist else
                       "a box loss, e.g. loss_reg=dict(type='mmdet."
                       "GIoULoss')")
                raise ValueError(
                    f'{where}: {s_name} predicts box {s_split.box_kind}, '
                    f'which {type(self.loss_reg).__name__} does not '
                    f'compare; use {fix}')
        if self.loss_ctr is not None and not s_split.has_centerness:
            raise ValueError(f'{where}: {s_name} has no centerness branch; '
                             'remove loss_ctr')
        self._splits = splits

    def split(self, side: str) -> BaseHeadSplit:
        if not self._splits:
            raise RuntimeError(f'{type(self).__name__} is not bound to the '
                               'heads yet: the distiller calls bind_heads')
        return self._splits[side]

    def record_paths(self, side: str) -> List[str]:
        return self.split(side).prediction_paths()

    # --------------------------------------------------------------- forward
    def student_predictions(
            self, student_rec: Dict[str, list], teacher_rec: Dict[str, list],
            connectors: Optional[Dict[str,
                                      nn.Module]]) -> List[LevelPredictions]:
        """The predictions that mimic the teacher's: the student head's."""
        return self.split('student').predictions(student_rec)

    def forward(self, student_rec: Dict[str, list],
                teacher_rec: Dict[str, list], data_samples,
                connectors: Optional[Dict[str, nn.Module]] = None) -> Tensor:
        t_preds = self.split('teacher').predictions(teacher_rec)
        s_preds = self.student_predictions(student_rec, teacher_rec,
                                           connectors)
        targets = self.split('student').targets(s_preds, data_samples)
        parts = self.mimic(s_preds, t_preds, targets)
        for name, value in parts.items():
            self.record_log_var(name, value)
        return self.loss_weight * sum(parts.values())

    def mimic(self, s_preds: List[LevelPredictions],
              t_preds: List[LevelPredictions],
              targets: DenseTargets) -> Dict[str, Tensor]:
        """The unweighted parts ``{'loss_cls', 'loss_reg', 'loss_ctr'}``
        (those configured) summed over the levels."""
        split = self.split('student')
        parts: Dict[str, List[Tensor]] = {}
        reg_weight_sum = 0.
        avg = targets.avg_factor
        for level, (s, t) in enumerate(zip(s_preds, t_preds)):
            weights = targets.label_weights[level]
            labels = targets.labels[level]
            s_cls = flat(s.cls, split.cls_channels)
            t_cls = flat(t.cls, split.cls_channels)
            if self.loss_cls is not None:
                parts.setdefault('loss_cls', []).append(
                    self.loss_cls(s_cls, t_cls, weight=weights,
                                  avg_factor=avg))
            positive = (labels >= 0) & (labels < split.num_classes)
            if self.loss_reg is not None:
                scores = t_cls if self.reg_weight == 'teacher' else s_cls
                region = weights > 0 if self.reg_region == 'valid' else \
                    positive
                r = scores.detach().max(dim=1)[0].sigmoid() * region
                if split.box_kind == 'distribution':
                    bins = split.reg_width // 4
                    parts.setdefault('loss_reg', []).append(
                        self.loss_reg(
                            flat(s.reg, bins), flat(t.reg, bins),
                            weight=r[:, None].expand(-1, 4).reshape(-1),
                            avg_factor=4.0))
                    reg_weight_sum = reg_weight_sum + r.sum()
                else:
                    priors = targets.priors[level]
                    parts.setdefault('loss_reg', []).append(
                        self.loss_reg(
                            split.decode(priors, flat(s.reg, 4)),
                            split.decode(priors, flat(t.reg, 4)), weight=r,
                            avg_factor=avg))
            if self.loss_ctr is not None:
                s_ctr = flat(s.ctr, 1).reshape(-1)[positive]
                t_ctr = flat(t.ctr, 1).reshape(-1)[positive]
                parts.setdefault('loss_ctr', []).append(
                    self.loss_ctr(s_ctr,
                                  t_ctr.detach().sigmoid(), avg_factor=avg))
        out = {name: sum(values) for name, values in parts.items()}
        if 'loss_reg' in out and split.box_kind == 'distribution' and \
                self.distribution_norm == 'weight_sum':
            from mmdet.utils import reduce_mean
            out['loss_reg'] = out['loss_reg'] / reduce_mean(
                torch.as_tensor(reg_weight_sum,
                                dtype=torch.float)).clamp(min=1)
        return out
