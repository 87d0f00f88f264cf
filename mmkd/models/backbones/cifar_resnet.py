# Copyright (c) mmkd contributors. All rights reserved.
"""CIFAR ResNets of the KD literature (He et al., "Deep Residual Learning
for Image Recognition", CVPR 2016, Sec. 4.2; variants as in CRD/DKD)."""
from typing import Optional, Sequence

import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from mmkd.registry import MODELS
from .utils import (check_channels, check_positive_int, kaiming_init,
                    register_variants)


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers plus a shortcut (a 1x1 conv-BN projection when
    the stride or the width changes), ReLU after the sum."""

    def __init__(self, in_channels: int, out_channels: int,
                 stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1,
                               bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels))

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


@MODELS.register_module()
class CifarResNet(BaseModule):
    """ResNet for 32x32 inputs: a 3x3 stem and three stages of
    ``(depth - 2) / 6`` basic blocks, the last two with stride 2.

    Module names (for distillation hooks): ``conv1``/``bn1``/``relu`` (stem),
    ``layer1``, ``layer2``, ``layer3`` (the stages; the backbone's output is
    ``layer3``'s, B x ``out_channels`` x H/4 x W/4).

    Registered variants (CRD/DKD names): ``resnet8/14/20/32/44/56/110``
    (stages 16-32-64) and ``resnet8x4``/``resnet32x4`` (stem 32, stages
    64-128-256: the literature widens the stages 4x but the stem only 2x).

    Args:
        depth (int): 6n + 2.
        stage_channels (Sequence[int]): the three stages' widths.
            Defaults to (16, 32, 64).
        stem_channels (int, optional): the stem's width; defaults to
            ``stage_channels[0]``.
        in_channels (int): input image channels. Defaults to 3.
        init_cfg (dict, optional): mmengine initialisation config.
    """

    def __init__(self, depth: int,
                 stage_channels: Sequence[int] = (16, 32, 64),
                 stem_channels: Optional[int] = None, in_channels: int = 3,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        name = type(self).__name__
        check_positive_int('depth', depth, name)
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f'{name}: depth must be 6n + 2 with n >= 1 '
                             f'(8, 14, 20, 32, 44, 56, 110...), got {depth}')
        stage_channels = check_channels('stage_channels', stage_channels, name,
                                        length=3)
        stem_channels = stage_channels[0] if stem_channels is None else \
            check_positive_int('stem_channels', stem_channels, name)
        check_positive_int('in_channels', in_channels, name)
        num_blocks = (depth - 2) // 6

        self.conv1 = nn.Conv2d(in_channels, stem_channels, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem_channels)
        self.relu = nn.ReLU()
        channels = stem_channels
        for i, width in enumerate(stage_channels):
            blocks = []
            for j in range(num_blocks):
                stride = 2 if i > 0 and j == 0 else 1
                blocks.append(BasicBlock(channels, width, stride))
                channels = width
            self.add_module(f'layer{i + 1}', nn.Sequential(*blocks))
        self.stage_channels = stage_channels
        self.out_channels = stage_channels[-1]
        kaiming_init(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer1(x)
        x = self.layer2(x)
        return self.layer3(x)


register_variants(
    CifarResNet, {
        **{
            f'resnet{d}': dict(depth=d)
            for d in (8, 14, 20, 32, 44, 56, 110)
        },
        **{
            f'resnet{d}x4':
            dict(depth=d, stage_channels=(64, 128, 256), stem_channels=32)
            for d in (8, 32)
        },
    })
