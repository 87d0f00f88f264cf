# Copyright (c) mmkd contributors. All rights reserved.
from .linear_cls_head import LinearClsHead, gt_labels

__all__ = ['LinearClsHead', 'gt_labels']
