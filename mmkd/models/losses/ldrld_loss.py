# Copyright (c) mmkd contributors. All rights reserved.
import math

import torch
import torch.nn.functional as F
from torch import Tensor

from mmkd.registry import MODELS
from .base import BaseLogitLoss
from .utils import (batch_mean, check_non_negative, check_positive,
                    kl_from_log_probs, softmax_kl)


def adaptive_decay_weights(topk: int, device=None) -> tuple:
    """All pairs ``i < j`` of ranks ``1..topk`` and their Adaptive Decay
    Weights ``Omega = IRW * ERD`` (LDRLD, Eq. 6-8)::

        IRW = 1 / (|R - R'| + 1.5),  ERD = 2.0 * exp(-0.05 * (R + R'))

    Returns:
        tuple: ``(first, second, omega)``: 0-based positions of the two
        classes of each pair (``topk * (topk - 1) / 2`` of them) and their
        weights.
    """
    first, second = torch.triu_indices(topk, topk, offset=1, device=device)
    rank_gap = (second - first).float()
    rank_sum = (first + second + 2).float()  # ranks are 1-based
    omega = 2.0 * torch.exp(-0.05 * rank_sum) / (rank_gap + 1.5)
    return first, second, omega


@MODELS.register_module()
class LDRLDLoss(BaseLogitLoss):
    """Local dense relational logit distillation.

    "Local Dense Relational Logit Distillation", arXiv 2507.15911 (ICCV
    2025). Per sample, the student's top-``d`` classes (ranked by student
    logit, R = 1..d, by ``torch.topk``, which breaks exact ties) are taken
    and::

        pair (i < j): KL_ij = KL(softmax([zt_i, zt_j] / T) ||
                                 softmax([zs_i, zs_j] / T)),
                      weighted by Omega_ij = IRW * ERD (Adaptive Decay
                      Weight, :func:`adaptive_decay_weights`)
        LLKI: KL(softmax(zt_top / T) || softmax(zs_top / T)) over the d
              classes jointly, weight 1
        RNTK: the same KL over the remaining C - d classes (0 if d == C)
        L = alpha * (sum_ij Omega_ij KL_ij + LLKI) / (d (d - 1) / 2 + 1)
            + beta * RNTK

    each KL sum-reduced, times ``T^2``, over the batch size. A two-class
    softmax is a sigmoid of the logit difference, so all pairs are computed
    at once from index tensors in O(B d^2), with ``logsigmoid`` for safe
    logs. The CE term is not part of this loss. The teacher logits are
    detached (and never choose the classes).

    Args:
        alpha (float): weight of the dense (pairs + LLKI) term (>= 0).
            Defaults to 1.0.
        beta (float): weight of RNTK (>= 0). Defaults to 1.0.
        temperature (float): softmax temperature ``T`` (> 0). Defaults to
            4.0.
        topk (int): ``d``, the number of top classes; ``2 <= d <= C``.
            Defaults to 7.
        loss_weight (float): multiplies the loss. Defaults to 1.0.
        logit_standardization (bool): z-score both logit sets per sample
            first (Sun et al., CVPR 2024). Defaults to False.
    """

    def __init__(self, alpha: float = 1.0, beta: float = 1.0,
                 temperature: float = 4.0, topk: int = 7,
                 loss_weight: float = 1.0,
                 logit_standardization: bool = False) -> None:
        super().__init__(loss_weight, logit_standardization)
        self.alpha = check_non_negative('LDRLDLoss', 'alpha', alpha)
        self.beta = check_non_negative('LDRLDLoss', 'beta', beta)
        self.temperature = check_positive('LDRLDLoss', 'temperature',
                                          temperature)
        if not isinstance(topk, int) or isinstance(topk, bool) or topk < 2:
            raise ValueError(
                f'LDRLDLoss: topk must be an integer >= 2 (at least one '
                f'pair of classes), got {topk!r}')
        self.topk = topk

    def compute(self, student_logits: Tensor, teacher_logits: Tensor,
                labels: Tensor) -> Tensor:
        num_classes, d = student_logits.shape[1], self.topk
        t = self.temperature
        if d > num_classes:
            raise ValueError(
                f'LDRLDLoss: topk={d} exceeds the {num_classes} classes of '
                f'the logits; set topk <= {num_classes}')
        teacher_logits = teacher_logits.detach()
        top = student_logits.detach().topk(d, dim=1, sorted=True)[1]
        zs_top = student_logits.gather(1, top) / t
        zt_top = teacher_logits.gather(1, top) / t

        first, second, omega = adaptive_decay_weights(
            d, device=student_logits.device)
        diff_s = zs_top[:, first] - zs_top[:, second]
        diff_t = zt_top[:, first] - zt_top[:, second]
        pair_kl = kl_from_log_probs(
            torch.stack([F.logsigmoid(diff_t),
                         F.logsigmoid(-diff_t)], -1),
            torch.stack([F.logsigmoid(diff_s),
                         F.logsigmoid(-diff_s)], -1))
        llki = softmax_kl(zt_top, zs_top, 1.0)
        dense = batch_mean(pair_kl @ omega.to(pair_kl.dtype) + llki)
        dense = dense / (math.comb(d, 2) + 1)

        if d < num_classes:
            in_top = torch.zeros_like(student_logits, dtype=torch.bool)
            in_top.scatter_(1, top, True)
            rntk = batch_mean(
                softmax_kl(teacher_logits, student_logits, t, exclude=in_top))
        else:
            rntk = student_logits.new_zeros(())
        return t**2 * (self.alpha * dense + self.beta * rntk)
