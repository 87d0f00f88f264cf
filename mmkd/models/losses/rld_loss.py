# Copyright (c) mmkd contributors. All rights reserved.
from torch import Tensor

from mmkd.registry import MODELS
from .base import BaseLogitLoss
from .utils import (batch_mean, binary_log_probs, check_non_negative,
                    check_positive, kl_from_log_probs, softmax_kl)


@MODELS.register_module()
class RLDLoss(BaseLogitLoss):
    """Refined logit distillation.

    Sun et al., "Refined Logit Distillation", arXiv 2408.07703 (ICCV 2025),
    Eq. 4-8. With ``p = softmax(z / Ta)``::

        SCD = Ta^2 * KL([pt[k], 1 - pt[k]] || [ps[y], 1 - ps[y]]),
              k = argmax zt (the teacher's own top-1), y = ground truth
        MCD = T^2 * KL(softmax(zt / T) || softmax(zs / T)) over the classes
              outside M = {i : zt[i] >= zt[y]}
        L = alpha * SCD + beta * MCD

    each averaged over the batch. ``M`` always holds ``y`` plus every class
    the teacher ranks at or above it (ties included), so a wrong teacher
    never pushes its wrong ranking onto the student. A sample whose ``M`` is
    every class contributes 0 to MCD. When the teacher is right with no ties,
    ``M = {y}`` and, with ``scd_temperature == temperature``, RLD equals
    :class:`DKDLoss`.

    Defaults follow the public code: ``Ta = 1`` (its "same-t" switch is
    ``scd_temperature=temperature``). The CE term and the warm-up
    ``min(epoch / 20, 1)`` are not part of this loss (the warm-up is
    ``mmkd.DistillWeightScheduleHook``). The teacher logits are detached.

    Args:
        alpha (float): weight of SCD (>= 0). Defaults to 1.0.
        beta (float): weight of MCD (>= 0). Defaults to 8.0.
        temperature (float): MCD temperature ``T`` (> 0). Defaults to 4.0.
        scd_temperature (float): SCD temperature ``Ta`` (> 0). Defaults to
            1.0.
        loss_weight (float): multiplies the loss. Defaults to 1.0.
        logit_standardization (bool): z-score both logit sets per sample
            first (Sun et al., CVPR 2024). Defaults to False.
    """

    def __init__(self, alpha: float = 1.0, beta: float = 8.0,
                 temperature: float = 4.0, scd_temperature: float = 1.0,
                 loss_weight: float = 1.0,
                 logit_standardization: bool = False) -> None:
        super().__init__(loss_weight, logit_standardization)
        self.alpha = check_non_negative('RLDLoss', 'alpha', alpha)
        self.beta = check_non_negative('RLDLoss', 'beta', beta)
        self.temperature = check_positive('RLDLoss', 'temperature',
                                          temperature)
        self.scd_temperature = check_positive('RLDLoss', 'scd_temperature',
                                              scd_temperature)

    def compute(self, student_logits: Tensor, teacher_logits: Tensor,
                labels: Tensor) -> Tensor:
        t, ta = self.temperature, self.scd_temperature
        teacher_logits = teacher_logits.detach()
        scd = kl_from_log_probs(
            binary_log_probs(teacher_logits, teacher_logits.argmax(1), ta),
            binary_log_probs(student_logits, labels, ta))
        truth_logit = teacher_logits.gather(1, labels.view(-1, 1))
        mask = teacher_logits >= truth_logit
        mcd = softmax_kl(teacher_logits, student_logits, t, exclude=mask)
        return (self.alpha * ta**2 * batch_mean(scd) +
                self.beta * t**2 * batch_mean(mcd))
