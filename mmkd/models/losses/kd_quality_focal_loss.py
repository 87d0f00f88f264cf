# Copyright (c) mmkd contributors. All rights reserved.
"""Quality focal loss against a teacher's scores (CrossKD's classification
distillation)."""
from typing import Optional

import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmkd.registry import MODELS
from .utils import check_non_negative, weighted_sum


@MODELS.register_module()
class KDQualityFocalLoss(nn.Module):
    r"""Quality focal loss with the teacher's sigmoid scores as soft
    targets: CrossKD (Wang et al., CVPR 2024, arXiv 2306.11369), Sec. 3.3,
    its classification distillation, the quality focal loss of GFL (Li et
    al., NeurIPS 2020, Eq. 5) with the IoU target replaced by the teacher's
    score :math:`t_c = \sigma(z^t_c)`:

    .. math::
        \mathcal{L} = \frac{1}{\text{avg\_factor}} \sum_i w_i \sum_c
        \mathrm{BCE}\big(\sigma(z^s_{ic}), t_{ic}\big)\,
        \big|\sigma(z^s_{ic}) - t_{ic}\big|^{\beta}

    over positions :math:`i` and classes :math:`c`; the paper uses
    :math:`\beta = 1`. A component of a head loss (mmdet's loss signature),
    not a distill entry's loss.

    Args:
        beta (float): the focusing exponent. Defaults to 1.0.
        loss_weight (float): multiplies the loss. Defaults to 1.0.
    """

    def __init__(self, beta: float = 1.0, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.beta = check_non_negative('KDQualityFocalLoss', 'beta', beta)
        self.loss_weight = float(loss_weight)

    def forward(self, pred: Tensor, target: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None) -> Tensor:
        """``pred`` and ``target``: (N, C) logits of the student and the
        teacher; ``weight``: (N,) per position."""
        if pred.shape != target.shape:
            raise ValueError(f'KDQualityFocalLoss: student scores '
                             f'{tuple(pred.shape)} and teacher scores '
                             f'{tuple(target.shape)} differ: the heads must '
                             'predict the same classes per prior')
        soft = target.detach().sigmoid()
        loss = F.binary_cross_entropy_with_logits(pred, soft, reduction='none')
        loss = loss * (pred.sigmoid() - soft).abs().pow(self.beta)
        if weight is not None:
            weight = weight[:, None]
        return self.loss_weight * weighted_sum(loss, weight, avg_factor)
