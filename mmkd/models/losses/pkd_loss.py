# Copyright (c) mmkd contributors. All rights reserved.
from typing import Optional, Sequence

import torch.nn.functional as F
from torch import Tensor

from mmkd.registry import MODELS
from .base import BaseFeatureLoss
from .feature_utils import standardize_channels
from .utils import check_positive


@MODELS.register_module()
class PKDLoss(BaseFeatureLoss):
    """Pearson-correlation feature distillation (Cao et al., "PKD: General
    Distillation Framework for Object Detectors via Pearson Correlation
    Coefficient", NeurIPS 2022, Sec. 3, the PCC feature loss).

    Both features are standardised per channel to zero mean and unit
    variance, then ``L = MSE(norm(fs), norm(ft)) / 2`` (mean over elements),
    which is ``1 - r`` for the Pearson correlation ``r`` of the two (up to
    the (n-1)/n factor of the Bessel-corrected std the public code uses).

    ``stats='batch'`` (default, as the paper and its public code) takes
    each channel's statistics over (B, H, W): the loss then depends on the
    whole batch and is not batch-separable. ``stats='sample'`` takes them
    over (H, W) of each sample; that loss is a mean over samples
    (batch-separable, usable inside AvatarLoss' folded batch).

    Defaults follow METHODS.md; the published weights are 6 (Faster R-CNN)
    and 10 (RetinaNet), set through ``loss_weight``.

    Args:
        loss_weight (float): multiplies the loss. Defaults to 1.0.
        stats (str): ``'batch'`` or ``'sample'``. Defaults to ``'batch'``.
        eps (float): added to the standard deviation. Defaults to 1e-6.
    """

    def __init__(self, loss_weight: float = 1.0, stats: str = 'batch',
                 eps: float = 1e-6) -> None:
        super().__init__(loss_weight=loss_weight)
        if stats not in ('batch', 'sample'):
            raise ValueError(f"PKDLoss: stats must be 'batch' or 'sample', "
                             f'got {stats!r}')
        self.stats = stats
        self.eps = check_positive('PKDLoss', 'eps', eps)
        self.batch_separable = stats == 'sample'

    def compute(self, student_feat: Tensor, teacher_feat: Tensor,
                data_samples: Optional[Sequence] = None) -> Tensor:
        per_sample = self.stats == 'sample'
        norm_s = standardize_channels(student_feat, per_sample, self.eps)
        norm_t = standardize_channels(teacher_feat, per_sample, self.eps)
        return F.mse_loss(norm_s, norm_t) / 2
