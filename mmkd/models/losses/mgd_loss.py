# Copyright (c) mmkd contributors. All rights reserved.
from typing import Optional, Sequence

import torch
import torch.nn as nn
from torch import Tensor

from mmkd.registry import MODELS
from .base import BaseFeatureLoss
from .feature_utils import check_channels, check_feature_channels
from .utils import check_non_negative


@MODELS.register_module()
class MGDLoss(BaseFeatureLoss):
    """Masked generative distillation (Yang et al., "Masked Generative
    Distillation", ECCV 2022, Sec. 3.2, the masked generation loss).

    A random spatial mask ``M`` (``M_ij = 0 if R_ij < lambda else 1``,
    ``R ~ U(0, 1)`` drawn per sample and position from torch's global RNG)
    hides a fraction ``lambda`` of the student's positions; a generation
    block ``G = conv3x3 -> ReLU -> conv3x3`` (C -> C) must rebuild the
    teacher feature from what is left::

        L = alpha / B * sum_{b,c,h,w} (G(fs * M) - ft)^2

    (summed squared error divided by the batch size, as the public code).
    The public code masks where ``R > 1 - lambda``: the same distribution.
    The student must already have the teacher's channel count (give the
    entry a connector if not). ``G`` is learnable: it is trained with the
    student and dropped after distillation.

    Defaults follow METHODS.md (RetinaNet): alpha 2e-5, lambda 0.65. The
    published recipes differ per family (the authors' configs, gradient
    clipping at max norm 35 for detection):

    ===========================  ========  ======  =======================
    family                       alpha     lambda  features
    ===========================  ========  ======  =======================
    RetinaNet, RepPoints         2e-5      0.65    FPN levels 0-4
    Faster/Mask R-CNN (2-stage)  5e-7      0.45    FPN levels 0-3
    SOLO                         2e-5      0.65    FPN levels 0-3
    segmentation (PSPNet/DLV3)   2e-5      0.75    last backbone stage
    ===========================  ========  ======  =======================

    Args:
        channels (int): channel count C of the teacher feature. Required.
        alpha_mgd (float): weight of the generation loss. Defaults to 2e-5.
        lambda_mgd (float): masked ratio, in [0, 1). Defaults to 0.65.
        loss_weight (float): multiplies the loss. Defaults to 1.0.
    """

    def __init__(self, channels: Optional[int] = None, alpha_mgd: float = 2e-5,
                 lambda_mgd: float = 0.65, loss_weight: float = 1.0) -> None:
        super().__init__(loss_weight=loss_weight)
        self.channels = check_channels('MGDLoss', channels)
        self.alpha_mgd = check_non_negative('MGDLoss', 'alpha_mgd', alpha_mgd)
        lambda_mgd = check_non_negative('MGDLoss', 'lambda_mgd', lambda_mgd)
        if lambda_mgd >= 1:
            raise ValueError('MGDLoss: lambda_mgd is the masked ratio and '
                             f'must be in [0, 1), got {lambda_mgd}')
        self.lambda_mgd = lambda_mgd
        self.generation = nn.Sequential(
            nn.Conv2d(channels, channels, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, kernel_size=3, padding=1))

    def random_mask(self, feat: Tensor) -> Tensor:
        """B x 1 x H x W mask of the feature's dtype: 0 at the masked
        positions (probability ``lambda_mgd``), 1 elsewhere."""
        b, _, h, w = feat.shape
        rand = torch.rand(b, 1, h, w, device=feat.device)
        return (rand >= self.lambda_mgd).to(feat.dtype)

    def compute(self, student_feat: Tensor, teacher_feat: Tensor,
                data_samples: Optional[Sequence] = None) -> Tensor:
        check_feature_channels('MGDLoss', self.channels, student_feat)
        generated = self.generation(student_feat *
                                    self.random_mask(student_feat))
        sq_err = (generated - teacher_feat).pow(2).sum()
        return self.alpha_mgd * sq_err / student_feat.shape[0]
