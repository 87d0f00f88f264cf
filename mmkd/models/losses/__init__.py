# Copyright (c) mmkd contributors. All rights reserved.
from .avatar_loss import AvatarLoss
from .base import BaseFeatureLoss, BaseLogitLoss, standardize_logits
from .cwd_loss import CWDLoss
from .dkd_loss import DKDLoss
from .feature_mse_loss import FeatureMSELoss
from .fgd_loss import FGDLoss
from .kd_loss import KDLoss
from .ldrld_loss import LDRLDLoss
from .mgd_loss import MGDLoss
from .pkd_loss import PKDLoss
from .rld_loss import RLDLoss

__all__ = ['BaseFeatureLoss', 'BaseLogitLoss', 'standardize_logits']
__all__ += ['KDLoss', 'DKDLoss', 'RLDLoss', 'LDRLDLoss']
__all__ += ['FeatureMSELoss', 'CWDLoss', 'PKDLoss', 'MGDLoss', 'FGDLoss']
__all__ += ['AvatarLoss']
from .cross_entropy_loss import CrossEntropyLoss  # noqa: E402

__all__ += ['CrossEntropyLoss']
from .lsh_loss import LSHLoss  # noqa: E402

__all__ += ['LSHLoss']
