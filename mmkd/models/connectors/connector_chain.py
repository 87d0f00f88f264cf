# Copyright (c) mmkd contributors. All rights reserved.
from typing import List, Optional, Sequence

import torch.nn as nn
from torch import Tensor

from mmkd.registry import MODELS
from .base import BaseConnector


@MODELS.register_module()
class ConnectorChain(BaseConnector):
    """Connectors applied in order, each given the teacher's spatial size:
    the alignment of a heterogeneous pair in one entry line, e.g. tokens to
    a map, then to the teacher's H x W, then to its channels::

        connector=dict(type='mmkd.ConnectorChain', connectors=[
            dict(type='mmkd.TokensToMap'), dict(type='mmkd.ResizeConnector'),
            dict(type='mmkd.ConvConnector', in_channels=96, out_channels=256)])

    Args:
        connectors (list[dict]): connector configs (at least one).
    """

    def __init__(self, connectors: List[dict]) -> None:
        super().__init__()
        if not isinstance(connectors, (list, tuple)) or not connectors:
            raise ValueError('ConnectorChain: connectors must be a non-empty '
                             f'list of connector configs, got {connectors!r}')
        self.connectors = nn.ModuleList()
        for i, cfg in enumerate(connectors):
            connector = MODELS.build(cfg)
            if not isinstance(connector, BaseConnector):
                raise TypeError(
                    f'ConnectorChain: connectors[{i}] builds a '
                    f'{type(connector).__name__}, not a connector (subclass '
                    'mmkd.models.connectors.BaseConnector)')
            self.connectors.append(connector)

    def forward(self, x: Tensor,
                target_size: Optional[Sequence[int]] = None) -> Tensor:
        for connector in self.connectors:
            x = connector(x, target_size=target_size)
        return x
