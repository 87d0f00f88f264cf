# Copyright (c) mmkd contributors. All rights reserved.
from typing import Optional, Sequence

from torch import Tensor

from mmkd.registry import MODELS
from .base import BaseFeatureLoss
from .utils import check_positive, kl_from_log_probs, softmax_kl


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
    # compute_many: one student softmax for k teachers (AvatarLoss' avatars)
    computes_many = True

    def __init__(self, tau: float = 1.0, loss_weight: float = 1.0) -> None:
        super().__init__(loss_weight=loss_weight)
        self.tau = check_positive('CWDLoss', 'tau', tau)

    def compute(self, student_feat: Tensor, teacher_feat: Tensor,
                data_samples: Optional[Sequence] = None) -> Tensor:
        b, c = student_feat.shape[:2]
        kl = softmax_kl(
            teacher_feat.flatten(2), student_feat.flatten(2), self.tau)
        return kl.sum() * self.tau**2 / (c * b)

    def compute_many(self, student_feat: Tensor, teacher_feats: Tensor,
                     data_samples: Optional[Sequence] = None) -> Tensor:
        """Mean of :meth:`compute` over k teacher features (k x B x C x H x
        W) for one student (AvatarLoss' avatars). With teachers that need
        no gradient (AvatarLoss detaches them), the sum of the k KLs is
        split as ``sum_i KL(p_i || q) = sum_i sum_x p_i log p_i -
        sum_x (sum_i p_i) log q``: the first term and ``sum_i p_i`` are
        computed without autograd, so the graph kept for the backward is
        that of one student softmax, whatever k (the value equals the mean
        of the k KLs up to float rounding). Otherwise the student's softmax
        is computed once and broadcast against the k teachers."""
        k, b, c = teacher_feats.shape[:3]
        teachers = teacher_feats.flatten(3) / self.tau
        log_q = (student_feat.flatten(2) / self.tau).log_softmax(-1)
        if teachers.requires_grad:
            kl = kl_from_log_probs(teachers.log_softmax(-1), log_q).sum()
        else:
            log_p = teachers.log_softmax(-1)
            p = log_p.exp()
            neg_entropy = (p * log_p).sum()
            kl = neg_entropy - (p.sum(0) * log_q).sum()
        return kl * self.tau**2 / (c * b * k)
