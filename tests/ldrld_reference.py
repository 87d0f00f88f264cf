# Copyright (c) mmkd contributors. All rights reserved.
"""A naive, loop-based LDRLD: one sample and one pair at a time.

Written straight from the paper's description (arXiv 2507.15911) to serve as
the reference that ``tools/benchmark_logit_losses.py`` times
and compares :class:`mmkd.models.losses.LDRLDLoss` against. Far too slow to
train with; not registered.
"""
import math

import torch
from torch import Tensor


def _kl(teacher_logits: Tensor, student_logits: Tensor) -> Tensor:
    p_t = teacher_logits.softmax(0)
    return (
        p_t *
        (teacher_logits.log_softmax(0) - student_logits.log_softmax(0))).sum()


def ldrld_loss_reference(student_logits: Tensor, teacher_logits: Tensor,
                         alpha: float = 1.0, beta: float = 1.0,
                         temperature: float = 4.0, topk: int = 7) -> Tensor:
    """LDRLD with a Python loop over samples and over class pairs, each pair
    a separate two-class softmax. Same value as ``LDRLDLoss`` (without
    ``loss_weight``/logit standardisation) unless exactly tied student
    logits straddle a rank, where the two may order the tie differently."""
    t, d = temperature, topk
    teacher_logits = teacher_logits.detach()
    batch_size, num_classes = student_logits.shape
    num_pairs = d * (d - 1) // 2
    total_dense = student_logits.new_zeros(())
    total_rest = student_logits.new_zeros(())
    for b in range(batch_size):
        zs, zt = student_logits[b] / t, teacher_logits[b] / t
        order = torch.sort(student_logits[b].detach(), descending=True,
                           stable=True)[1].tolist()
        top, rest = order[:d], order[d:]
        for r1 in range(1, d + 1):
            for r2 in range(r1 + 1, d + 1):
                pair = [top[r1 - 1], top[r2 - 1]]
                omega = (2.0 * math.exp(-0.05 * (r1 + r2)) /
                         (abs(r1 - r2) + 1.5))
                total_dense = total_dense + omega * _kl(zt[pair], zs[pair])
        total_dense = total_dense + _kl(zt[top], zs[top])
        if rest:
            total_rest = total_rest + _kl(zt[rest], zs[rest])
    dense = total_dense / batch_size / (num_pairs + 1)
    return t**2 * (alpha * dense + beta * total_rest / batch_size)
