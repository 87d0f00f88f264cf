# Copyright (c) mmkd contributors. All rights reserved.
from typing import Optional, Sequence

import torch.nn as nn
from torch import Tensor

from mmkd.registry import MODELS
from .base import BaseConnector


def _build_norm(norm_cfg: Optional[dict], channels: int) -> nn.Module:
    if norm_cfg is None:
        return nn.Identity()
    cfg = dict(norm_cfg)
    kind = cfg.pop('type', None)
    if kind == 'BN':
        return nn.BatchNorm2d(channels, **cfg)
    if kind == 'GN':
        groups = cfg.pop('num_groups', None)
        if groups is None or channels % groups:
            raise ValueError(
                "ConvConnector: norm_cfg=dict(type='GN') needs num_groups "
                f'dividing out_channels={channels}, got {groups!r}')
        return nn.GroupNorm(groups, channels, **cfg)
    raise ValueError(f"ConvConnector: norm_cfg type must be 'BN' or 'GN' "
                     f'(or norm_cfg=None), got {kind!r}')


def _build_act(act_cfg: Optional[dict]) -> nn.Module:
    if act_cfg is None:
        return nn.Identity()
    cfg = dict(act_cfg)
    kind = cfg.pop('type', None)
    act = getattr(nn, kind, None) if isinstance(kind, str) else None
    if not (isinstance(act, type) and issubclass(act, nn.Module)):
        raise ValueError('ConvConnector: act_cfg type must name a torch.nn '
                         f"activation (e.g. 'ReLU'), got {kind!r}")
    return act(**cfg)


@MODELS.register_module()
class ConvConnector(BaseConnector):
    """Channel alignment: conv (k x k, stride 1, same padding) + norm
    (+ activation), e.g. the FitNets regressor (1x1 conv + BN).

    Args:
        in_channels (int): student channels.
        out_channels (int): teacher channels.
        kernel_size (int): odd conv kernel size. Defaults to 1.
        norm_cfg (dict, optional): ``dict(type='BN')``,
            ``dict(type='GN', num_groups=G)`` or None (the conv then has a
            bias). Extra keys go to the torch norm layer. Defaults to
            ``dict(type='BN')``.
        act_cfg (dict, optional): ``dict(type=<torch.nn activation name>,
            ...)`` or None. Defaults to None.
    """

    def __init__(self, in_channels: int, out_channels: int,
                 kernel_size: int = 1,
                 norm_cfg: Optional[dict] = dict(type='BN'),
                 act_cfg: Optional[dict] = None) -> None:
        super().__init__()
        for key, value in (('in_channels', in_channels),
                           ('out_channels', out_channels), ('kernel_size',
                                                            kernel_size)):
            if not isinstance(value, int) or isinstance(value, bool) or \
                    value < 1:
                raise ValueError(f'ConvConnector: {key} must be a positive '
                                 f'int, got {value!r}')
        if kernel_size % 2 == 0:
            raise ValueError('ConvConnector: kernel_size must be odd (same '
                             f'padding keeps H x W), got {kernel_size}')
        self.in_channels = in_channels
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size,
                              padding=kernel_size // 2, bias=norm_cfg is None)
        self.norm = _build_norm(norm_cfg, out_channels)
        self.act = _build_act(act_cfg)

    def forward(self, x: Tensor,
                target_size: Optional[Sequence[int]] = None) -> Tensor:
        self.check_input(x, 4, 'B x C x H x W')
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f'ConvConnector was built with in_channels='
                f'{self.in_channels} but got {x.shape[1]} channels (shape '
                f"{tuple(x.shape)}); set in_channels to the student's "
                'channel count')
        return self.act(self.norm(self.conv(x)))
