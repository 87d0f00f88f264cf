# Copyright (c) mmkd contributors. All rights reserved.
from torch import Tensor

from mmkd.registry import MODELS
from .base import BaseLogitLoss
from .utils import (batch_mean, binary_log_probs, check_non_negative,
                    check_positive, kl_from_log_probs, one_hot_mask,
                    softmax_kl)


@MODELS.register_module()
class DKDLoss(BaseLogitLoss):
    """Decoupled knowledge distillation.

    Zhao et al., "Decoupled Knowledge Distillation", CVPR 2022, Eq. 7::

        L = alpha * TCKD + beta * NCKD
        TCKD = T^2 * KL(b_t || b_s),  b = [p_y, 1 - p_y],  p = softmax(z / T)
        NCKD = T^2 * KL(p~_t || p~_s), p~ = softmax(z / T) over classes != y

    each averaged over the batch. NCKD leaves the ground-truth class out of
    the softmax exactly, as in the paper (the public code subtracts 1000 from
    its logit instead, which matches it up to rounding). The linear warm-up
    of the paper is not part of the loss: use
    ``mmkd.DistillWeightScheduleHook``. The teacher logits are detached.

    Args:
        alpha (float): weight of TCKD (>= 0). Defaults to 1.0.
        beta (float): weight of NCKD (>= 0). Defaults to 8.0.
        temperature (float): softmax temperature ``T`` (> 0). Defaults to
            4.0.
        loss_weight (float): multiplies the loss. Defaults to 1.0.
        logit_standardization (bool): z-score both logit sets per sample
            first (Sun et al., CVPR 2024). Defaults to False.
    """

    def __init__(self, alpha: float = 1.0, beta: float = 8.0,
                 temperature: float = 4.0, loss_weight: float = 1.0,
                 logit_standardization: bool = False) -> None:
        super().__init__(loss_weight, logit_standardization)
        self.alpha = check_non_negative('DKDLoss', 'alpha', alpha)
        self.beta = check_non_negative('DKDLoss', 'beta', beta)
        self.temperature = check_positive('DKDLoss', 'temperature',
                                          temperature)

    def compute(self, student_logits: Tensor, teacher_logits: Tensor,
                labels: Tensor) -> Tensor:
        t = self.temperature
        teacher_logits = teacher_logits.detach()
        tckd = kl_from_log_probs(
            binary_log_probs(teacher_logits, labels, t),
            binary_log_probs(student_logits, labels, t))
        gt = one_hot_mask(labels, student_logits.shape[1])
        nckd = softmax_kl(teacher_logits, student_logits, t, exclude=gt)
        return t**2 * (
            self.alpha * batch_mean(tckd) + self.beta * batch_mean(nckd))
