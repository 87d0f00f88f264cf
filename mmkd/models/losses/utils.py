# Copyright (c) mmkd contributors. All rights reserved.
"""Numerically safe building blocks shared by the logit losses.

Every KL here is computed from log-probabilities given by ``log_softmax``
(never ``log(softmax)``), so no term is ``log(0)``. Classes left out of a
softmax are filled with the dtype's most negative finite value (not
``-inf``) and their KL terms are zeroed, so a row with every class left out
contributes 0, with finite gradients.
"""
from numbers import Number
from typing import Optional

import torch
from torch import Tensor


def check_positive(owner: str, name: str, value) -> float:
    """Return ``value`` as a float, raising if it is not a number > 0."""
    if not isinstance(value, Number) or isinstance(value, bool) or \
            not value > 0:
        raise ValueError(f'{owner}: {name} must be a number > 0, '
                         f'got {value!r}')
    return float(value)


def check_non_negative(owner: str, name: str, value) -> float:
    """Return ``value`` as a float, raising if it is not a number >= 0."""
    if not isinstance(value, Number) or isinstance(value, bool) or \
            not value >= 0:
        raise ValueError(f'{owner}: {name} must be a number >= 0, '
                         f'got {value!r}')
    return float(value)


def batch_mean(per_sample: Tensor) -> Tensor:
    """Sum over samples divided by the batch size ("batchmean"); 0 for an
    empty batch instead of NaN."""
    return per_sample.sum() / max(per_sample.shape[0], 1)


def one_hot_mask(labels: Tensor, num_classes: int) -> Tensor:
    """Bool B x C mask, True at each sample's label."""
    mask = torch.zeros(labels.shape[0], num_classes, dtype=torch.bool,
                       device=labels.device)
    return mask.scatter_(1, labels.view(-1, 1), True)


def masked_log_softmax(logits: Tensor,
                       exclude: Optional[Tensor] = None) -> Tensor:
    """``log_softmax`` over the last dim, restricted to the entries where
    ``exclude`` (bool, same shape) is False. Excluded entries get a huge
    negative finite log-probability (probability 0); no gradient flows to
    them."""
    if exclude is not None:
        logits = logits.masked_fill(exclude, torch.finfo(logits.dtype).min)
    return logits.log_softmax(dim=-1)


def kl_from_log_probs(log_p_teacher: Tensor, log_p_student: Tensor,
                      exclude: Optional[Tensor] = None) -> Tensor:
    """``KL(p_t || p_s)`` summed over the last dim, from log-probabilities.

    Args:
        log_p_teacher (Tensor): teacher log-probabilities, shape (..., K).
        log_p_student (Tensor): student log-probabilities, shape (..., K).
        exclude (Tensor, optional): bool (..., K); entries outside the
            distributions, whose terms are set to 0.

    Returns:
        Tensor: shape (...), one KL per distribution.
    """
    terms = log_p_teacher.exp() * (log_p_teacher - log_p_student)
    if exclude is not None:
        terms = terms.masked_fill(exclude, 0.)
    return terms.sum(dim=-1)


def softmax_kl(teacher_logits: Tensor, student_logits: Tensor,
               temperature: float, exclude: Optional[Tensor] = None) -> Tensor:
    """Per-row ``KL(softmax(zt/T) || softmax(zs/T))`` over the last dim,
    optionally over the entries where ``exclude`` is False only (both
    softmaxes renormalised over them). Not multiplied by ``T^2``."""
    log_pt = masked_log_softmax(teacher_logits / temperature, exclude)
    log_ps = masked_log_softmax(student_logits / temperature, exclude)
    return kl_from_log_probs(log_pt, log_ps, exclude)


def binary_log_probs(logits: Tensor, index: Tensor,
                     temperature: float) -> Tensor:
    """Log of the two-bin distribution ``[p[index], 1 - p[index]]`` with
    ``p = softmax(logits / T)`` (the "target vs rest" split of DKD/RLD).

    ``log(1 - p[index])`` is the log-sum-exp of the other classes'
    log-probabilities, which stays finite when ``p[index]`` rounds to 1.

    Args:
        logits (Tensor): B x C.
        index (Tensor): B class indices.
        temperature (float): softmax temperature.

    Returns:
        Tensor: B x 2 log-probabilities.
    """
    log_p = (logits / temperature).log_softmax(dim=1)
    picked = one_hot_mask(index, log_p.shape[1])
    log_target = log_p.gather(1, index.view(-1, 1)).squeeze(1)
    log_rest = log_p.masked_fill(picked,
                                 torch.finfo(log_p.dtype).min).logsumexp(1)
    return torch.stack([log_target, log_rest], dim=1)


def weighted_sum(loss: Tensor, weight: Optional[Tensor] = None,
                 avg_factor: Optional[float] = None) -> Tensor:
    """``sum(loss * weight) / avg_factor`` (the reduction of mmdet's
    dense-head losses; ``weight`` broadcasts, ``avg_factor`` None: the mean
    over the elements)."""
    if weight is not None:
        loss = loss * weight
    if avg_factor is None:
        return loss.sum() / max(loss.numel(), 1)
    return loss.sum() / avg_factor
