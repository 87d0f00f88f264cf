# Copyright (c) mmkd contributors. All rights reserved.
"""Wide ResNets for CIFAR (Zagoruyko & Komodakis, "Wide Residual
Networks", BMVC 2016; the ``wrn_d_k`` variants of CRD/DKD)."""
from typing import Optional

import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from mmkd.registry import MODELS
from .utils import check_positive_int, kaiming_init, register_variants


class PreActBlock(nn.Module):
    """Pre-activation basic block: BN-ReLU-conv3x3 twice. When the width or
    stride changes, the shortcut is a 1x1 conv of the *activated* input."""

    def __init__(self, in_channels: int, out_channels: int, stride: int,
                 drop_rate: float = 0.0) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1,
                               bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.relu = nn.ReLU()
        self.drop_rate = drop_rate
        self.shortcut = None
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride,
                                      bias=False)

    def forward(self, x: Tensor) -> Tensor:
        act = self.relu(self.bn1(x))
        identity = x if self.shortcut is None else self.shortcut(act)
        out = self.relu(self.bn2(self.conv1(act)))
        if self.drop_rate > 0:
            out = F.dropout(out, p=self.drop_rate, training=self.training)
        return self.conv2(out) + identity


@MODELS.register_module()
class CifarWideResNet(BaseModule):
    """WRN-d-k for 32x32 inputs: a 3x3 stem of 16 channels and three stages
    of ``(depth - 4) / 6`` pre-activation blocks of widths 16k, 32k, 64k
    (strides 1, 2, 2), then a final BN-ReLU.

    Module names: ``conv1`` (stem), ``layer1``, ``layer2``, ``layer3``
    (stages, pre-activation outputs), ``bn1``/``relu`` (the final BN-ReLU;
    the backbone's output is ``relu``'s, B x 64k x H/4 x W/4).

    Registered variants: ``wrn_16_1``, ``wrn_16_2``, ``wrn_40_1``,
    ``wrn_40_2``.

    Args:
        depth (int): 6n + 4.
        widen_factor (int): k. Defaults to 1.
        drop_rate (float): dropout between the two convs of each block.
            Defaults to 0.0 (as in the KD literature).
        in_channels (int): input image channels. Defaults to 3.
        init_cfg (dict, optional): mmengine initialisation config.
    """

    def __init__(self, depth: int, widen_factor: int = 1,
                 drop_rate: float = 0.0, in_channels: int = 3,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        name = type(self).__name__
        check_positive_int('depth', depth, name)
        if depth < 10 or (depth - 4) % 6:
            raise ValueError(f'{name}: depth must be 6n + 4 with n >= 1 '
                             f'(10, 16, 22, 28, 40...), got {depth}')
        check_positive_int('widen_factor', widen_factor, name)
        check_positive_int('in_channels', in_channels, name)
        if not 0.0 <= drop_rate < 1.0:
            raise ValueError(f'{name}: drop_rate must be in [0, 1), got '
                             f'{drop_rate!r}')
        num_blocks = (depth - 4) // 6
        widths = tuple(c * widen_factor for c in (16, 32, 64))

        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        channels = 16
        for i, width in enumerate(widths):
            blocks = []
            for j in range(num_blocks):
                stride = 2 if i > 0 and j == 0 else 1
                blocks.append(PreActBlock(channels, width, stride, drop_rate))
                channels = width
            self.add_module(f'layer{i + 1}', nn.Sequential(*blocks))
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()
        self.drop_rate = drop_rate
        self.stage_channels = widths
        self.out_channels = widths[-1]
        kaiming_init(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv1(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        return self.relu(self.bn1(x))


register_variants(
    CifarWideResNet, {
        f'wrn_{d}_{k}': dict(depth=d, widen_factor=k)
        for d in (16, 40)
        for k in (1, 2)
    })
