# Copyright (c) mmkd contributors. All rights reserved.
"""Softmax cross-entropy of class scores against integer labels: the
supervised loss of the classification heads."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmkd.registry import MODELS
from .base import _check_weight, check_label_range


@MODELS.register_module()
class CrossEntropyLoss(nn.Module):
    """``loss_weight * mean_i CE(softmax(z_i), y_i)``, optionally with label
    smoothing (Szegedy et al., CVPR 2016, Sec. 7).

    Args:
        loss_weight (float): multiplies the loss. Defaults to 1.0.
        label_smoothing (float): in [0, 1). Defaults to 0.0.
    """

    def __init__(self, loss_weight: float = 1.0,
                 label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.loss_weight = _check_weight(loss_weight)
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f'label_smoothing must be in [0, 1), got '
                             f'{label_smoothing!r}')
        self.label_smoothing = float(label_smoothing)
        self._labels_checked = False

    def forward(self, cls_score: Tensor, labels: Tensor) -> Tensor:
        """Args: ``cls_score`` B x C logits, ``labels`` B class indices."""
        if cls_score.dim() != 2:
            raise ValueError(f'CrossEntropyLoss takes B x C class scores, '
                             f'got shape {tuple(cls_score.shape)}')
        if labels.dtype.is_floating_point or labels.dtype == torch.bool \
                or labels.shape != cls_score.shape[:1]:
            raise ValueError(
                f'CrossEntropyLoss takes {cls_score.shape[0]} integer class '
                f'indices, got {labels.dtype} labels of shape '
                f'{tuple(labels.shape)}')
        # on the host once, then on the device (no host sync per step)
        check_label_range(labels, cls_score.shape[1],
                          on_host=not self._labels_checked)
        self._labels_checked = True
        return self.loss_weight * F.cross_entropy(
            cls_score, labels, label_smoothing=self.label_smoothing)
