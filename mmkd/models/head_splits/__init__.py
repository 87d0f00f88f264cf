# Copyright (c) mmkd contributors. All rights reserved.
from .anchor_heads import ATSSHeadSplit, GFLHeadSplit, RetinaHeadSplit
from .base import (BaseHeadSplit, DenseTargets, LevelPredictions,
                   build_head_split, flat)
from .fcos_head import FCOSHeadSplit

__all__ = [
    'BaseHeadSplit', 'DenseTargets', 'LevelPredictions', 'build_head_split',
    'flat', 'RetinaHeadSplit', 'ATSSHeadSplit', 'GFLHeadSplit', 'FCOSHeadSplit'
]
