# Copyright (c) mmkd contributors. All rights reserved.
from typing import Optional, Sequence

import torch.nn.functional as F
from torch import Tensor

from mmkd.registry import MODELS
from .base import BaseFeatureLoss


@MODELS.register_module()
class FeatureMSELoss(BaseFeatureLoss):
    """Feature mimicking with the mean squared error (FitNets, Romero et al.,
    "FitNets: Hints for Thin Deep Nets", ICLR 2015, Eq. 3 hint loss).

    ``L = mean((r(fs) - ft)^2)`` over all elements, where ``r`` is the
    learnable regressor. The regressor is not part of the loss: give the
    distill entry a connector (e.g. ``type='mmkd.ConvConnector'``, a
    1x1 conv + BN, or ``type='mmkd.LinearConnector'`` for vectors); the loss
    receives the connected student feature. Works on feature maps
    (B x C x H x W) and vectors (B x D).

    Args:
        loss_weight (float): multiplies the loss. Defaults to 1.0.
    """
    accepts_vectors = True

    def compute(self, student_feat: Tensor, teacher_feat: Tensor,
                data_samples: Optional[Sequence] = None) -> Tensor:
        return F.mse_loss(student_feat, teacher_feat)
