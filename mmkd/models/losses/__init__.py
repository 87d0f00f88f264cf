# Copyright (c) mmkd contributors. All rights reserved.
from .avatar_loss import AvatarLoss
from .base import (BaseDistillLoss, BaseFeatureLoss, BaseLogitLoss,
                   standardize_logits)
from .box_distribution_kl_loss import BoxDistributionKLLoss
from .cross_entropy_loss import CrossEntropyLoss
from .crosskd_loss import CrossKDLoss, match_statistics
from .cwd_loss import CWDLoss
from .dkd_loss import DKDLoss
from .feature_mse_loss import FeatureMSELoss
from .fgd_loss import FGDLoss
from .head_loss_base import BaseHeadLoss
from .kd_loss import KDLoss
from .kd_quality_focal_loss import KDQualityFocalLoss
from .ldrld_loss import LDRLDLoss
from .lsh_loss import LSHLoss
from .mgd_loss import MGDLoss
from .pkd_loss import PKDLoss
from .prediction_mimic_loss import PredictionMimicLoss
from .rld_loss import RLDLoss

__all__ = [
    'BaseDistillLoss', 'BaseFeatureLoss', 'BaseLogitLoss',
    'standardize_logits', 'KDLoss', 'DKDLoss', 'RLDLoss', 'LDRLDLoss',
    'FeatureMSELoss', 'CWDLoss', 'PKDLoss', 'MGDLoss', 'FGDLoss', 'AvatarLoss',
    'CrossEntropyLoss', 'LSHLoss', 'BaseHeadLoss', 'PredictionMimicLoss',
    'CrossKDLoss', 'match_statistics', 'KDQualityFocalLoss',
    'BoxDistributionKLLoss'
]
