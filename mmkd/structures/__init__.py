# Copyright (c) mmkd contributors. All rights reserved.
from .cls_data_sample import ClsDataSample

__all__ = ['ClsDataSample']
