# Copyright (c) mmkd contributors. All rights reserved.
from typing import Optional, Sequence, Tuple

import torch.nn.functional as F
from torch import Tensor

from mmkd.registry import MODELS
from .base import BaseConnector

_MODES = ('nearest', 'bilinear', 'bicubic', 'area')


def _as_size(value, where: str) -> Tuple[int, int]:
    size = (value, value) if isinstance(value, int) else tuple(value)
    if len(size) != 2 or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0
            for v in size):
        raise ValueError(f'ResizeConnector: {where} must be a positive int '
                         f'or (H, W), got {value!r}')
    return size


@MODELS.register_module()
class ResizeConnector(BaseConnector):
    """Spatial alignment: resizes a B x C x H x W feature by interpolation
    (no parameters).

    With a fixed ``size`` every input is resized to it. With ``size=None``
    (the default) the target is given at call time,
    ``forward(x, target_size=(H, W))``: the distiller passes the teacher
    feature's spatial size, so the student map is resized to the teacher's.
    A fixed ``size`` takes precedence over ``target_size``.

    Args:
        size (int | tuple[int, int], optional): fixed output (H, W).
            Defaults to None.
        mode (str): ``'nearest'``, ``'bilinear'``, ``'bicubic'`` or
            ``'area'``. Defaults to ``'bilinear'`` (``align_corners=False``).
    """

    def __init__(self, size: Optional[Sequence[int]] = None,
                 mode: str = 'bilinear') -> None:
        super().__init__()
        self.size = None if size is None else _as_size(size, 'size')
        if mode not in _MODES:
            raise ValueError(f'ResizeConnector: mode must be one of {_MODES}'
                             f', got {mode!r}')
        self.mode = mode

    def forward(self, x: Tensor,
                target_size: Optional[Sequence[int]] = None) -> Tensor:
        self.check_input(x, 4, 'B x C x H x W')
        if self.size is not None:
            size = self.size
        elif target_size is not None:
            size = _as_size(target_size, 'target_size')
        else:
            raise ValueError(
                'ResizeConnector has no size: build it with size=(H, W) or '
                'call it as connector(x, target_size=(H, W))')
        if tuple(x.shape[2:]) == size:
            return x
        align = False if self.mode in ('bilinear', 'bicubic') else None
        return F.interpolate(x, size=size, mode=self.mode, align_corners=align)
