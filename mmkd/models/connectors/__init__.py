# Copyright (c) mmkd contributors. All rights reserved.
from .alignment import alignment_hint, check_aligned
from .base import BaseConnector
from .connector_chain import ConnectorChain
from .conv_connector import ConvConnector
from .linear_connector import LinearConnector
from .resize_connector import ResizeConnector
from .tokens_to_map import TokensToMap

__all__ = [
    'BaseConnector', 'ConnectorChain', 'ConvConnector', 'LinearConnector',
    'ResizeConnector', 'TokensToMap', 'alignment_hint', 'check_aligned'
]
