# Copyright (c) mmkd contributors. All rights reserved.
from typing import Optional, Sequence

from torch import Tensor

from mmkd.registry import MODELS
from .base import BaseFeatureLoss
from .utils import check_positive, softmax_kl


@MODELS.register_module()
class CWDLoss(BaseFeatureLoss):
    """Channel-wise distillation (Shu et al., "Channel-wise Knowledge
    Distillation for Dense Prediction", ICCV 2021, Sec. 3.2, the channel
    distribution loss).

    Each channel's activation map becomes a distribution over the H x W
    positions, ``phi(y_c) = softmax(y_c / tau)``, and the student matches
    the teacher channel by channel::

        L = tau^2 / (C * B) * sum_{b, c} KL(phi(ft_{b,c}) || phi(fs_{b,c}))

    Defaults follow METHODS.md: tau 1 (weight 5 for segmentation logits,
    10 for FPN features, set through ``loss_weight``).

    Args:
        tau (float): softmax temperature. Defaults to 1.0.
        loss_weight (float): multiplies the loss. Defaults to 1.0.
    """

    def __init__(self, tau: float = 1.0, loss_weight: float = 1.0) -> None:
        super().__init__(loss_weight=loss_weight)
        self.tau = check_positive('CWDLoss', 'tau', tau)

    def compute(self,
                student_feat: Tensor,
                teacher_feat: Tensor,
                data_samples: Optional[Sequence] = None) -> Tensor:
        b, c = student_feat.shape[:2]
        kl = softmax_kl(teacher_feat.flatten(2), student_feat.flatten(2),
                        self.tau)
        return kl.sum() * self.tau**2 / (c * b)

    def compute_many(self,
                     student_feat: Tensor,
                     teacher_feats: Tensor,
                     data_samples: Optional[Sequence] = None) -> Tensor:
        """Mean of :meth:`compute` over k teacher features (k x B x C x H x
        W) for one student (AvatarLoss' avatars): the student's softmax is
        computed once and broadcast against the k teachers."""
        k, b, c = teacher_feats.shape[:3]
        kl = softmax_kl(teacher_feats.flatten(3), student_feat.flatten(2),
                        self.tau)
        return kl.sum() * self.tau**2 / (c * b * k)
