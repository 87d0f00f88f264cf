# Copyright (c) mmkd contributors. All rights reserved.
"""CrossKD: the student's head features through the teacher's head."""
from typing import Dict, List, Optional, Tuple

import torch.nn as nn
from torch import Tensor

from mmkd.models.head_splits import LevelPredictions
from mmkd.registry import MODELS
from .prediction_mimic_loss import PredictionMimicLoss
from .utils import check_positive


def match_statistics(student: Tensor, teacher: Tensor,
                     eps: float = 1e-6) -> Tensor:
    """``student`` (B, C, H, W) standardised per channel over batch and
    positions, then given the teacher's per-channel mean and standard
    deviation (unbiased, as ``Tensor.std``): CrossKD's alignment of the
    student's head feature before the teacher's layers take it."""
    dims = (0, 2, 3)
    s_mean = student.mean(dims, keepdim=True)
    s_std = student.std(dims, keepdim=True)
    t_mean = teacher.mean(dims, keepdim=True)
    t_std = teacher.std(dims, keepdim=True)
    return (student - s_mean) / (s_std + eps) * t_std + t_mean


@MODELS.register_module()
class CrossKDLoss(PredictionMimicLoss):
    r"""CrossKD (Wang et al., CVPR 2024, arXiv 2306.11369), Sec. 3.2-3.3:
    the student's head feature after stacked conv :math:`k` (before its
    activation) is given the teacher's per-channel statistics (Eq. 2's
    alignment; over batch and positions, as the official code does), run
    through the teacher's head from conv :math:`k` on, activation first
    (frozen weights, gradients flow back to the student), and the resulting
    cross-head predictions :math:`\hat p^s` mimic the teacher's own
    :math:`p^t` (Eq. 3) with :class:`PredictionMimicLoss`'s parts: the
    quality focal loss on the class scores, GIoU/IoU on the decoded boxes
    weighted by the teacher's max score (or the KL divergence of GFL's box
    distributions), a centerness loss where the official configs use one.
    The student's own head is trained by its own loss as before.

    Where the two heads differ in width, the entry's ``connector`` (one per
    branch, ``cls`` and ``reg``) maps the student's feature to the
    teacher's channels first.

    Args:
        head_idx (int): :math:`k`, the stacked conv after which the heads
            are split (1 .. the fewer stacked convs of the two heads);
            CrossKD's ``reused_teacher_head_idx`` (3 for RetinaNet, ATSS and
            GFL with 4 convs, 2 for FCOS).
        eps (float): added to the student's standard deviation. Defaults
            to 1e-6 (the official code's).
        **kwargs: :class:`PredictionMimicLoss`'s arguments.
    """
    connector_branches = ('cls', 'reg')

    def __init__(self, head_idx: int, eps: float = 1e-6, **kwargs) -> None:
        super().__init__(**kwargs)
        if isinstance(head_idx, bool) or not isinstance(head_idx, int):
            raise TypeError(f'CrossKDLoss: head_idx must be an int, got '
                            f'{head_idx!r}')
        self.head_idx = head_idx
        self.eps = check_positive('CrossKDLoss', 'eps', eps)

    def split_at(self) -> Optional[int]:
        return self.head_idx

    def record_paths(self, side: str) -> List[str]:
        split = self.split(side)
        paths = list(split.split_paths().values())
        if side == 'teacher':
            paths += split.prediction_paths()
        return paths

    def connector_channels(self) -> Optional[Tuple[int, int]]:
        return (self.split('student').feat_channels,
                self.split('teacher').feat_channels)

    def student_predictions(
            self, student_rec: Dict[str, list], teacher_rec: Dict[str, list],
            connectors: Optional[Dict[str,
                                      nn.Module]]) -> List[LevelPredictions]:
        """The cross-head predictions, level by level."""
        s_paths = self.split('student').split_paths()
        teacher = self.split('teacher')
        t_paths = teacher.split_paths()
        preds = []
        for level in range(teacher.num_levels):
            feats = {}
            for branch in self.connector_branches:
                s_feat = student_rec[s_paths[branch]][level]
                t_feat = teacher_rec[t_paths[branch]][level]
                if connectors:
                    s_feat = connectors[branch](s_feat, target_size=tuple(
                        t_feat.shape[2:]))
                feats[branch] = match_statistics(s_feat, t_feat, self.eps)
            preds.append(
                teacher.run_from_split(feats['cls'], feats['reg'], level))
        return preds
