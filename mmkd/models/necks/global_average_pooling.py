# Copyright (c) mmkd contributors. All rights reserved.
"""Global average pooling neck."""
from typing import Tuple, Union

import torch.nn as nn
from torch import Tensor

from mmkd.registry import MODELS


@MODELS.register_module()
class GlobalAveragePooling(nn.Module):
    """Average a B x C x H x W feature map over its spatial dimensions into a
    B x C tensor (a tuple of maps is pooled map by map)."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)

    def _pool(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.dim() != 4:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x)
            raise ValueError(
                'GlobalAveragePooling takes B x C x H x W feature maps, got '
                f'{shape}; a backbone that already outputs B x D vectors '
                'needs no neck (set neck=None)')
        return self.pool(x).flatten(1)

    def forward(self, x: Union[Tensor, Tuple[Tensor, ...]]):
        if isinstance(x, (tuple, list)):
            return tuple(self._pool(t) for t in x)
        return self._pool(x)
