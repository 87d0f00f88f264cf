# Copyright (c) mmkd contributors. All rights reserved.
"""A small configurable CNN for MNIST-sized inputs (CPU benchmarks)."""
from typing import Optional, Sequence

import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from mmkd.registry import MODELS
from .utils import check_channels, check_positive_int, kaiming_init


@MODELS.register_module()
class MnistConvNet(BaseModule):
    """Stages of 3x3 conv-BN-ReLU + 2x2 max-pool, then (when ``hidden`` is
    set) a flatten and a fully connected ReLU layer.

    Sizes for the CPU distillation benchmark (28 x 28 grey digits, with a
    ``LinearClsHead`` of 10 classes):

    * teacher ``channels=(32, 64), hidden=128`` (the defaults): 421,738
      parameters with the head;
    * student ``channels=(4, 8), hidden=16``: 6,806 parameters, or
      ``channels=(2, 4), hidden=8``: 1,768 parameters.

    Trained alone for 5 epochs on 8,000 MNIST test-split images (SGD,
    cosine), they reach about 98.4%, 97.0% and 95.9% on the other 2,000.

    Module names: ``layer1`` ... ``layerN`` (stages, after pooling) and,
    with ``hidden``, ``fc`` (Linear + ReLU).

    Output: with ``hidden``, a B x ``hidden`` tensor (use the classifier
    without a neck); without, the last stage's B x C x H x W map (use a
    ``GlobalAveragePooling`` neck). ``out_channels`` is ``hidden`` or the
    last stage's width.

    Args:
        channels (Sequence[int]): widths of the stages. Defaults to (32, 64).
        hidden (int, optional): width of the fully connected layer; None for
            no such layer. Defaults to 128.
        in_channels (int): input image channels. Defaults to 1.
        input_size (int): input height = width, used to size ``fc``.
            Defaults to 28.
        init_cfg (dict, optional): mmengine initialisation config.
    """

    def __init__(self, channels: Sequence[int] = (32, 64),
                 hidden: Optional[int] = 128, in_channels: int = 1,
                 input_size: int = 28,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        name = type(self).__name__
        channels = check_channels('channels', channels, name)
        check_positive_int('in_channels', in_channels, name)
        check_positive_int('input_size', input_size, name)
        size = input_size
        prev = in_channels
        for i, width in enumerate(channels):
            if size < 2:
                raise ValueError(
                    f'{name}: {len(channels)} stages halve a {input_size} x '
                    f'{input_size} input below 1 pixel; use fewer stages '
                    'or a larger input_size')
            self.add_module(
                f'layer{i + 1}',
                nn.Sequential(
                    nn.Conv2d(prev, width, 3, padding=1, bias=False),
                    nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2)))
            prev = width
            size //= 2
        self.num_stages = len(channels)
        self.input_size = input_size
        self.stage_channels = channels
        if hidden is None:
            self.fc = None
            self.out_channels = channels[-1]
        else:
            check_positive_int('hidden', hidden, name)
            self.fc = nn.Sequential(nn.Flatten(),
                                    nn.Linear(prev * size * size, hidden),
                                    nn.ReLU())
            self.out_channels = hidden
        kaiming_init(self)

    def forward(self, x: Tensor) -> Tensor:
        if self.fc is not None and x.shape[-2:] != (self.input_size, ) * 2:
            raise ValueError(f'MnistConvNet was built for {self.input_size} x '
                             f'{self.input_size} inputs (input_size) but got '
                             f'{tuple(x.shape[-2:])}')
        for i in range(self.num_stages):
            x = getattr(self, f'layer{i + 1}')(x)
        return x if self.fc is None else self.fc(x)
