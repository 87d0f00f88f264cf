# Copyright (c) mmkd contributors. All rights reserved.
from .base import BaseConnector
from .conv_connector import ConvConnector
from .linear_connector import LinearConnector
from .resize_connector import ResizeConnector

__all__ = [
    'BaseConnector', 'ConvConnector', 'LinearConnector', 'ResizeConnector'
]
