# Copyright (c) mmkd contributors. All rights reserved.
"""ShuffleNets for CIFAR, as used by CRD/DKD (``ShuffleV1``, ``ShuffleV2``).

* V1: Zhang et al., "ShuffleNet: An Extremely Efficient Convolutional Neural
  Network for Mobile Devices", CVPR 2018.
* V2: Ma et al., "ShuffleNet V2: Practical Guidelines for Efficient CNN
  Architecture Design", ECCV 2018.
"""
from typing import Optional, Sequence

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from mmkd.registry import MODELS
from .utils import check_channels, check_positive_int, register_variants


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """Interleave the channels of ``groups`` equal groups (the ShuffleNet
    channel shuffle): channel ``g * n + i`` moves to ``i * groups + g``."""
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h,
                  w).transpose(1, 2).reshape(b, c, h, w)


def _conv_bn(in_channels: int, out_channels: int, kernel_size: int,
             stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride,
                  kernel_size // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out_channels))


class ShuffleV1Unit(nn.Module):
    """ShuffleNet V1 unit: grouped 1x1 conv, channel shuffle, 3x3
    depth-wise conv, grouped 1x1 conv. A stride-2 unit concatenates a 3x3
    average-pooled shortcut, so its branch outputs ``out_channels -
    in_channels``; a stride-1 unit adds the identity. The bottleneck width
    is a quarter of the branch's output. The first 1x1 of the unit right
    after the 24-channel stem is not grouped."""

    def __init__(self, in_channels: int, out_channels: int, stride: int,
                 groups: int) -> None:
        super().__init__()
        branch_channels = out_channels - in_channels if stride == 2 \
            else out_channels
        mid = branch_channels // 4
        first_groups = 1 if in_channels == 24 else groups
        if (mid <= 0 or mid % groups or branch_channels % groups
                or in_channels % first_groups):
            raise ValueError(
                f'ShuffleNetV1 unit {in_channels}->{out_channels} (stride '
                f'{stride}): its input width, its branch width '
                f'{branch_channels} and a quarter of it must be positive '
                f'multiples of groups={groups}; choose other '
                'stage_channels')
        self.groups = first_groups
        self.conv1 = _conv_bn(in_channels, mid, 1, groups=first_groups)
        self.conv2 = _conv_bn(mid, mid, 3, stride, groups=mid)
        self.conv3 = _conv_bn(mid, branch_channels, 1, groups=groups)
        self.relu = nn.ReLU()
        self.shortcut = nn.AvgPool2d(3, 2, 1) if stride == 2 else None

    def forward(self, x: Tensor) -> Tensor:
        out = channel_shuffle(self.relu(self.conv1(x)), self.groups)
        out = self.conv3(self.relu(self.conv2(out)))
        if self.shortcut is not None:
            out = torch.cat([out, self.shortcut(x)], dim=1)
        else:
            out = out + x
        return self.relu(out)


@MODELS.register_module()
class CifarShuffleNetV1(BaseModule):
    """ShuffleNet V1 for 32x32 inputs: a 1x1 conv-BN-ReLU stem of 24
    channels, then three stages whose first unit has stride 2.

    Module names: ``conv1`` (stem conv-BN), ``layer1`` ... ``layer3``; the
    backbone's output is ``layer3``'s, B x ``out_channels`` x H/8 x W/8.

    Registered variant: ``ShuffleV1`` (widths 240-480-960, 4-8-4 units,
    3 groups).

    Args:
        stage_channels (Sequence[int]): the stages' output widths.
        num_units (Sequence[int]): units per stage.
        groups (int): groups of the 1x1 convs.
        in_channels (int): input image channels. Defaults to 3.
        init_cfg (dict, optional): mmengine initialisation config.
    """

    def __init__(self, stage_channels: Sequence[int] = (240, 480, 960),
                 num_units: Sequence[int] = (4, 8, 4), groups: int = 3,
                 in_channels: int = 3,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        name = type(self).__name__
        stage_channels = check_channels('stage_channels', stage_channels, name)
        num_units = check_channels('num_units', num_units, name,
                                   length=len(stage_channels))
        check_positive_int('groups', groups, name)
        check_positive_int('in_channels', in_channels, name)
        self.conv1 = _conv_bn(in_channels, 24, 1)
        self.relu = nn.ReLU()
        channels = 24
        for i, (width, n) in enumerate(zip(stage_channels, num_units)):
            units = []
            for j in range(n):
                units.append(
                    ShuffleV1Unit(channels, width, 2 if j == 0 else 1, groups))
                channels = width
            self.add_module(f'layer{i + 1}', nn.Sequential(*units))
        self.num_stages = len(stage_channels)
        self.stage_channels = stage_channels
        self.out_channels = stage_channels[-1]

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.conv1(x))
        for i in range(self.num_stages):
            x = getattr(self, f'layer{i + 1}')(x)
        return x


class ShuffleV2Unit(nn.Module):
    """ShuffleNet V2 basic unit: split the channels in two halves, run
    1x1 conv-BN-ReLU, 3x3 depth-wise conv-BN, 1x1 conv-BN-ReLU on the second
    half, concatenate with the first, shuffle (2 groups)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        half = channels // 2
        self.half = half
        self.branch = nn.Sequential(
            _conv_bn(half, half, 1), nn.ReLU(),
            _conv_bn(half, half, 3, groups=half), _conv_bn(half, half, 1),
            nn.ReLU())

    def forward(self, x: Tensor) -> Tensor:
        x1, x2 = x[:, :self.half], x[:, self.half:]
        return channel_shuffle(torch.cat([x1, self.branch(x2)], 1), 2)


class ShuffleV2DownUnit(nn.Module):
    """ShuffleNet V2 stride-2 unit: two branches of ``out/2`` channels
    (3x3 depth-wise stride-2 conv-BN then 1x1 conv-BN-ReLU; and 1x1
    conv-BN-ReLU, 3x3 depth-wise stride-2 conv-BN, 1x1 conv-BN-ReLU),
    concatenated and shuffled."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        mid = out_channels // 2
        self.left = nn.Sequential(
            _conv_bn(in_channels, in_channels, 3, 2, groups=in_channels),
            _conv_bn(in_channels, mid, 1), nn.ReLU())
        self.right = nn.Sequential(
            _conv_bn(in_channels, mid, 1), nn.ReLU(),
            _conv_bn(mid, mid, 3, 2, groups=mid), _conv_bn(mid, mid, 1),
            nn.ReLU())

    def forward(self, x: Tensor) -> Tensor:
        return channel_shuffle(torch.cat([self.left(x), self.right(x)], 1), 2)


@MODELS.register_module()
class CifarShuffleNetV2(BaseModule):
    """ShuffleNet V2 for 32x32 inputs: a 3x3 stride-1 conv-BN-ReLU stem of
    24 channels, three stages (a stride-2 unit then ``num_units`` basic
    units) and a 1x1 conv-BN-ReLU to ``last_channels``.

    Module names: ``conv1`` (stem conv-BN), ``layer1`` ... ``layer3``,
    ``conv2`` (last 1x1 conv-BN); the backbone's output is the ReLU of
    ``conv2``'s, B x ``out_channels`` x H/8 x W/8.

    Registered variant: ``ShuffleV2`` (net size 1: widths 116-232-464,
    3-7-3 basic units, last 1024).

    Args:
        stage_channels (Sequence[int]): the stages' widths (even).
        num_units (Sequence[int]): basic units per stage, after its
            stride-2 unit.
        last_channels (int): width of the final 1x1 conv.
        in_channels (int): input image channels. Defaults to 3.
        init_cfg (dict, optional): mmengine initialisation config.
    """

    def __init__(self, stage_channels: Sequence[int] = (116, 232, 464),
                 num_units: Sequence[int] = (3, 7, 3),
                 last_channels: int = 1024, in_channels: int = 3,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        name = type(self).__name__
        stage_channels = check_channels('stage_channels', stage_channels, name)
        if any(c % 2 for c in stage_channels):
            raise ValueError(f'{name}: stage widths must be even (units '
                             f'split channels in halves), got '
                             f'{stage_channels}')
        num_units = check_channels('num_units', num_units, name,
                                   length=len(stage_channels))
        check_positive_int('last_channels', last_channels, name)
        check_positive_int('in_channels', in_channels, name)
        self.conv1 = _conv_bn(in_channels, 24, 3)
        self.relu = nn.ReLU()
        channels = 24
        for i, (width, n) in enumerate(zip(stage_channels, num_units)):
            units = [ShuffleV2DownUnit(channels, width)]
            units += [ShuffleV2Unit(width) for _ in range(n)]
            self.add_module(f'layer{i + 1}', nn.Sequential(*units))
            channels = width
        self.conv2 = _conv_bn(channels, last_channels, 1)
        self.num_stages = len(stage_channels)
        self.stage_channels = stage_channels
        self.out_channels = last_channels

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.conv1(x))
        for i in range(self.num_stages):
            x = getattr(self, f'layer{i + 1}')(x)
        return self.relu(self.conv2(x))


register_variants(
    CifarShuffleNetV1, {
        'ShuffleV1':
        dict(stage_channels=(240, 480, 960), num_units=(4, 8, 4), groups=3)
    })
register_variants(
    CifarShuffleNetV2, {
        'ShuffleV2':
        dict(
            stage_channels=(116, 232, 464), num_units=(3, 7, 3),
            last_channels=1024)
    })
