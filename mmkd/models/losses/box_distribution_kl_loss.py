# Copyright (c) mmkd contributors. All rights reserved.
"""KL divergence between box-side distributions (LD's localization
distillation; CrossKD's regression distillation on GFL)."""
from typing import Optional

import torch.nn as nn
from torch import Tensor

from mmkd.registry import MODELS
from .utils import check_positive, kl_from_log_probs, weighted_sum

CLASS_REDUCTIONS = ('sum', 'mean')


@MODELS.register_module()
class BoxDistributionKLLoss(nn.Module):
    r"""Localization distillation (Zheng et al., CVPR 2022, arXiv
    2102.12252, Eq. 4): per box side, the KL divergence from the teacher's
    discretised distribution to the student's, both softened by a
    temperature :math:`T`,

    .. math::
        \mathcal{L} = \frac{T^2}{\text{avg\_factor}} \sum_i w_i\,
        \mathrm{red}_j\Big[p^t_{ij} \big(\log p^t_{ij} - \log p^s_{ij}\big)
        \Big], \quad p_{i} = \mathrm{softmax}(z_i / T)

    over sides :math:`i` and bins :math:`j`, where ``red`` is the sum over
    the :math:`n + 1` bins (the KL divergence; CrossKD's GFL config,
    ``class_reduction='sum'``, T = 1) or their mean (mmdet's
    ``KnowledgeDistillationKLDivLoss`` in its LD config, T = 10). A
    component of a head loss (mmdet's loss signature).

    Args:
        T (float): temperature. Defaults to 1.0.
        class_reduction (str): ``'sum'`` or ``'mean'`` over the bins.
            Defaults to ``'sum'``.
        loss_weight (float): multiplies the loss. Defaults to 1.0.
    """

    def __init__(self, T: float = 1.0, class_reduction: str = 'sum',
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if class_reduction not in CLASS_REDUCTIONS:
            raise ValueError(f'BoxDistributionKLLoss: class_reduction must '
                             f'be one of {CLASS_REDUCTIONS}, got '
                             f'{class_reduction!r}')
        self.T = check_positive('BoxDistributionKLLoss', 'T', T)
        self.class_reduction = class_reduction
        self.loss_weight = float(loss_weight)

    def forward(self, pred: Tensor, target: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None) -> Tensor:
        """``pred`` and ``target``: (N, n + 1) logits of one box side each;
        ``weight``: (N,)."""
        if pred.shape != target.shape:
            raise ValueError(f'BoxDistributionKLLoss: student '
                             f'{tuple(pred.shape)} and teacher '
                             f'{tuple(target.shape)} distributions differ: '
                             'give both heads the same reg_max')
        kl = kl_from_log_probs((target.detach() / self.T).log_softmax(1),
                               (pred / self.T).log_softmax(1))
        if self.class_reduction == 'mean':
            kl = kl / pred.shape[1]
        return self.loss_weight * self.T**2 * weighted_sum(
            kl, weight, avg_factor)
