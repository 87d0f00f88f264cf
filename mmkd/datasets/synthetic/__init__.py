# Copyright (c) mmkd contributors. All rights reserved.
"""Synthetic data sets in the real COCO and Cityscapes layouts."""
from .cityscapes_shapes import (CITYSCAPES_CLASSES, CITYSCAPES_SHAPE_TRAIN_IDS,
                                CITYSCAPES_SHAPES_TRAIN_IDS,
                                make_cityscapes_shapes)
from .coco_shapes import (COCO_SHAPES_CLASSES, coco_shapes_classes,
                          make_coco_shapes)
from .shapes import SHAPE_CLASSES

__all__ = [
    'SHAPE_CLASSES', 'COCO_SHAPES_CLASSES', 'coco_shapes_classes',
    'make_coco_shapes', 'CITYSCAPES_CLASSES', 'CITYSCAPES_SHAPE_TRAIN_IDS',
    'CITYSCAPES_SHAPES_TRAIN_IDS', 'make_cityscapes_shapes'
]
