# Copyright (c) mmkd contributors. All rights reserved.
from .global_average_pooling import GlobalAveragePooling

__all__ = ['GlobalAveragePooling']
