# Copyright (c) mmkd contributors. All rights reserved.
from torch import Tensor

from mmkd.registry import MODELS
from .base import BaseLogitLoss
from .utils import batch_mean, check_positive, softmax_kl


@MODELS.register_module()
class KDLoss(BaseLogitLoss):
    """Vanilla knowledge distillation.

    Hinton et al., "Distilling the Knowledge in a Neural Network", NIPS 2014
    workshop (arXiv 1503.02531), Eq. 2 with the ``T^2`` gradient scaling::

        L = T^2 * KL(softmax(zt / T) || softmax(zs / T))

    averaged over the batch ("batchmean"). The teacher logits are detached.

    Args:
        temperature (float): softmax temperature ``T`` (> 0). Defaults to
            4.0.
        loss_weight (float): multiplies the loss. Defaults to 1.0.
        logit_standardization (bool): z-score both logit sets per sample
            first (Sun et al., CVPR 2024). Defaults to False.
    """

    def __init__(self, temperature: float = 4.0, loss_weight: float = 1.0,
                 logit_standardization: bool = False) -> None:
        super().__init__(loss_weight, logit_standardization)
        self.temperature = check_positive('KDLoss', 'temperature', temperature)

    def compute(self, student_logits: Tensor, teacher_logits: Tensor,
                labels: Tensor) -> Tensor:
        t = self.temperature
        kl = softmax_kl(teacher_logits.detach(), student_logits, t)
        return t**2 * batch_mean(kl)
