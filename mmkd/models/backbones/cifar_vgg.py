# Copyright (c) mmkd contributors. All rights reserved.
"""VGG with BatchNorm for CIFAR (Simonyan & Zisserman, "Very Deep
Convolutional Networks for Large-Scale Image Recognition", ICLR 2015; the
``vgg8/11/13/16/19`` variants of CRD/DKD, all with BN)."""
from typing import Optional

import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from mmkd.registry import MODELS
from .utils import check_positive_int, kaiming_init, register_variants

# Convolutions (3x3, all with BN) per block; the widths are 64, 128, 256,
# 512, 512. vgg8 is the KD literature's shallow variant (one conv a block).
_CONVS_PER_BLOCK = {
    8: (1, 1, 1, 1, 1),
    11: (1, 1, 2, 2, 2),
    13: (2, 2, 2, 2, 2),
    16: (2, 2, 3, 3, 3),
    19: (2, 2, 4, 4, 4),
}
_WIDTHS = (64, 128, 256, 512, 512)


@MODELS.register_module()
class CifarVGG(BaseModule):
    """VGG-BN for 32x32 inputs: five blocks of 3x3 conv-BN-ReLU layers with
    a 2x2 max-pool after each of the first three (as in CRD/DKD, which pool
    after the fourth block only for 64x64 inputs: ``pool_after_block4``).

    Module names: ``layer1`` ... ``layer5`` (blocks, post-ReLU, before
    pooling), ``pool1``/``pool2``/``pool3`` (and ``pool4`` when
    ``pool_after_block4``). The backbone's output is ``layer5``'s,
    B x 512 x H/8 x W/8 (4 x 4 on CIFAR).

    Registered variants: ``vgg8``, ``vgg11``, ``vgg13``, ``vgg16``,
    ``vgg19``.

    Args:
        depth (int): one of 8, 11, 13, 16, 19 (convs + 3 FC layers of the
            original VGG naming; here a single FC, the head's).
        pool_after_block4 (bool): also max-pool after the fourth block (for
            64 x 64 inputs). Defaults to False.
        in_channels (int): input image channels. Defaults to 3.
        init_cfg (dict, optional): mmengine initialisation config.
    """

    def __init__(self, depth: int, pool_after_block4: bool = False,
                 in_channels: int = 3,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        name = type(self).__name__
        if depth not in _CONVS_PER_BLOCK:
            raise ValueError(f'{name}: depth must be one of '
                             f'{sorted(_CONVS_PER_BLOCK)}, got {depth!r}')
        check_positive_int('in_channels', in_channels, name)
        channels = in_channels
        for i, (num_convs,
                width) in enumerate(zip(_CONVS_PER_BLOCK[depth], _WIDTHS)):
            layers = []
            for _ in range(num_convs):
                layers += [
                    nn.Conv2d(channels, width, 3, padding=1),
                    nn.BatchNorm2d(width),
                    nn.ReLU()
                ]
                channels = width
            self.add_module(f'layer{i + 1}', nn.Sequential(*layers))
        self.num_pools = 4 if pool_after_block4 else 3
        for i in range(self.num_pools):
            self.add_module(f'pool{i + 1}', nn.MaxPool2d(2, 2))
        self.stage_channels = _WIDTHS
        self.out_channels = _WIDTHS[-1]
        kaiming_init(self)

    def forward(self, x: Tensor) -> Tensor:
        for i in range(1, 5):
            x = getattr(self, f'layer{i}')(x)
            if i <= self.num_pools:
                x = getattr(self, f'pool{i}')(x)
        return self.layer5(x)


register_variants(CifarVGG,
                  {f'vgg{d}': dict(depth=d)
                   for d in sorted(_CONVS_PER_BLOCK)})
