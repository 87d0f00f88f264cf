# Copyright (c) mmkd contributors. All rights reserved.
"""MobileNetV2 for CIFAR (Sandler et al., "MobileNetV2: Inverted Residuals
and Linear Bottlenecks", CVPR 2018), as used by CRD/DKD: half width."""
from typing import Optional

import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from mmkd.registry import MODELS
from .utils import check_positive_int, kaiming_init, register_variants

# (expansion: 1 or the model's expand_ratio, base width, blocks, stride)
_SETTINGS = (
    (False, 16, 1, 1),
    (True, 24, 2, 1),
    (True, 32, 3, 2),
    (True, 64, 4, 2),
    (True, 96, 3, 1),
    (True, 160, 3, 2),
    (True, 320, 1, 1),
)


def _conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int,
                  stride: int = 1, groups: int = 1, relu: bool = True):
    layers = [
        nn.Conv2d(in_channels, out_channels, kernel_size, stride,
                  kernel_size // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out_channels)
    ]
    if relu:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """1x1 expansion, 3x3 depth-wise conv (with the stride), linear 1x1
    projection; identity shortcut when shape is kept. As in CRD's code the
    expansion conv is kept even for an expansion ratio of 1."""

    def __init__(self, in_channels: int, out_channels: int, stride: int,
                 expand_ratio: int) -> None:
        super().__init__()
        mid = in_channels * expand_ratio
        self.use_shortcut = stride == 1 and in_channels == out_channels
        self.conv = nn.Sequential(
            _conv_bn_relu(in_channels, mid, 1),
            _conv_bn_relu(mid, mid, 3, stride, groups=mid),
            _conv_bn_relu(mid, out_channels, 1, relu=False))

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv(x)
        return x + out if self.use_shortcut else out


@MODELS.register_module()
class CifarMobileNetV2(BaseModule):
    """MobileNetV2 for 32x32 inputs: a stride-2 3x3 stem, seven stages of
    inverted residual blocks (strides 1, 1, 2, 2, 1, 2, 1) and a 1x1
    conv-BN-ReLU to ``last_channels``; overall stride 16 (2 x 2 on CIFAR).

    Module names: ``conv1`` (stem), ``layer1`` ... ``layer7`` (stages),
    ``conv2`` (the last 1x1; the backbone's output, B x ``out_channels``
    x H/16 x W/16).

    Registered variant: ``MobileNetV2`` (CRD/DKD's name for this net at
    ``widen_factor=0.5``, ``expand_ratio=6``).

    Args:
        widen_factor (float): multiplies every stage width (and the stem's).
            Defaults to 1.0.
        expand_ratio (int): expansion of all stages but the first.
            Defaults to 6.
        last_channels (int, optional): width of ``conv2``. Defaults to 1280,
            times ``widen_factor`` rounded to a multiple of 8 when
            ``widen_factor > 1`` (as in the reference code).
        in_channels (int): input image channels. Defaults to 3.
        init_cfg (dict, optional): mmengine initialisation config.
    """

    def __init__(self, widen_factor: float = 1.0, expand_ratio: int = 6,
                 last_channels: Optional[int] = None, in_channels: int = 3,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        name = type(self).__name__
        if isinstance(
                widen_factor,
                bool) or not isinstance(widen_factor,
                                        (int, float)) or not widen_factor > 0:
            raise ValueError(f'{name}: widen_factor must be a positive '
                             f'number, got {widen_factor!r}')
        check_positive_int('expand_ratio', expand_ratio, name)
        check_positive_int('in_channels', in_channels, name)
        if last_channels is None:
            last_channels = 1280 if widen_factor <= 1.0 else \
                _make_divisible(1280 * widen_factor, 8)
        check_positive_int('last_channels', last_channels, name)

        channels = int(32 * widen_factor)
        self.conv1 = _conv_bn_relu(in_channels, channels, 3, stride=2)
        stage_channels = []
        for i, (expand, width, num_blocks, stride) in enumerate(_SETTINGS):
            width = int(width * widen_factor)
            blocks = []
            for j in range(num_blocks):
                blocks.append(
                    InvertedResidual(channels, width, stride if j == 0 else 1,
                                     expand_ratio if expand else 1))
                channels = width
            self.add_module(f'layer{i + 1}', nn.Sequential(*blocks))
            stage_channels.append(width)
        self.conv2 = _conv_bn_relu(channels, last_channels, 1)
        self.stage_channels = tuple(stage_channels)
        self.out_channels = last_channels
        kaiming_init(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv1(x)
        for i in range(len(_SETTINGS)):
            x = getattr(self, f'layer{i + 1}')(x)
        return self.conv2(x)


def _make_divisible(value: float, divisor: int) -> int:
    """Round to the nearest multiple of ``divisor``, not below 90%."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


register_variants(CifarMobileNetV2,
                  {'MobileNetV2': dict(widen_factor=0.5, expand_ratio=6)})
