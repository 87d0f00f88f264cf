# Copyright (c) mmkd contributors. All rights reserved.
"""Folding a frozen teacher's BatchNorm into the convolution that feeds it.

In eval mode a BatchNorm is a fixed per-channel affine map, so
``bn(conv(x))`` equals one convolution with the weight scaled by
``gamma / sqrt(var + eps)`` and the bias ``beta - mean * gamma /
sqrt(var + eps)`` (:func:`torch.nn.utils.fusion.fuse_conv_bn_weights`), up
to float rounding. The folded convolution skips the BatchNorm's pass over
the feature map.

The fold changes no parameter or buffer the teacher had: the folded weight
and bias are extra non-persistent buffers of the convolution (moved with
the module, never in its ``state_dict``), the convolution's ``forward``
uses them and the BatchNorm's ``forward`` hands its input on (both
instance attributes, as mmcv's ``ConvModule`` does for its
``efficient_conv_bn_eval``). ``teacher.state_dict()`` and
``named_parameters()`` stay those of the loaded checkpoint.

Only pairs whose code guarantees that the BatchNorm takes the
convolution's output and nothing else does are folded:

- a convolution directly followed by a BatchNorm in an ``nn.Sequential``
  (e.g. a ResNet's ``downsample``, a deep stem);
- mmcv's ``ConvModule`` with ``'norm'`` right after ``'conv'`` in its
  ``order`` (the default ``('conv', 'norm', 'act')``);
- OpenMMLab's ResNet-style modules (mmdet's and mmseg's ``BasicBlock``,
  ``Bottleneck``, the ResNet and HRNet stems): ``conv{k}`` and the norm
  layer named by ``norm{k}_name``.

The convolution must be a plain ``nn.Conv2d`` (or mmcv's wrapper of it)
with zero padding, the BatchNorm a 2-D BatchNorm with running statistics;
anything else (deformable or weight-standardised convolutions, a norm before
its convolution, GroupNorm) is left as it is. A module whose output is
recorded is never folded away: a recorded convolution keeps its own output,
a recorded BatchNorm its own.
"""
from functools import partial
from typing import Iterable, List, Optional, Tuple

import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils.fusion import fuse_conv_bn_weights


def is_plain_conv(module: nn.Module) -> bool:
    """An ``nn.Conv2d`` (or mmcv's wrapper of it) with its own forward and
    zero padding."""
    from mmcv.cnn.bricks.wrappers import Conv2d as MMCVConv2d
    return (isinstance(module, nn.Conv2d)
            and type(module).forward in (nn.Conv2d.forward, MMCVConv2d.forward)
            and module.padding_mode == 'zeros')


def _eval_bn(module: nn.Module) -> bool:
    return (isinstance(module, _BatchNorm) and not module.training
            and module.running_mean is not None
            and module.running_var is not None)


def _candidates(parent: nn.Module) -> List[Tuple[str, str]]:
    """(conv name, BN name) children of ``parent`` that its forward chains
    directly (the three structures of the module docstring)."""
    from mmcv.cnn import ConvModule
    if isinstance(parent, nn.Sequential):
        names = [name for name, _ in parent.named_children()]
        return list(zip(names, names[1:]))
    if isinstance(parent, ConvModule):
        order = list(parent.order)
        if parent.with_norm and parent.efficient_conv_bn_eval_forward is \
                None and order.index('norm') == order.index('conv') + 1:
            return [('conv', parent.norm_name)]
        return []
    pairs = []
    for k in range(1, 4):
        norm_name = getattr(parent, f'norm{k}_name', None)
        if isinstance(norm_name, str) and \
                isinstance(getattr(parent, f'conv{k}', None), nn.Module):
            pairs.append((f'conv{k}', norm_name))
    return pairs


def foldable_pairs(
    model: nn.Module, keep: Iterable[str] = ()) -> List[Tuple[str, str]]:
    """Paths ``(conv, bn)`` of the pairs :func:`fold_batchnorm` folds in
    ``model``; pairs with a path in ``keep`` (recorded modules) are left
    out."""
    keep = set(keep)
    pairs = []
    for path, parent in model.named_modules():
        prefix = f'{path}.' if path else ''
        for conv_name, bn_name in _candidates(parent):
            children = dict(parent.named_children())
            conv = children.get(conv_name)
            bn = children.get(bn_name)
            conv_path, bn_path = prefix + conv_name, prefix + bn_name
            if is_plain_conv(conv) and _eval_bn(bn) and \
                    bn.num_features == conv.out_channels and \
                    not {conv_path, bn_path} & keep:
                pairs.append((conv_path, bn_path))
    return pairs


def conv_weights(conv: nn.Conv2d) -> Tuple[Tensor, Optional[Tensor]]:
    """The weight and bias ``conv`` computes with: the folded ones once a
    BatchNorm is folded into it, its own otherwise."""
    if hasattr(conv, 'folded_weight'):
        return conv.folded_weight, conv.folded_bias
    return conv.weight, conv.bias


def conv_forward(conv: nn.Conv2d, x: Tensor) -> Tensor:
    """``conv(x)`` computed with :func:`conv_weights` (a plain convolution
    with zero padding)."""
    weight, bias = conv_weights(conv)
    return F.conv2d(x, weight, bias, conv.stride, conv.padding, conv.dilation,
                    conv.groups)


def _pass_on(self: nn.Module, x: Tensor) -> Tensor:
    if self.training:  # the fold holds for the running statistics only
        raise RuntimeError(
            'a folded BatchNorm of the teacher was put in train mode; the '
            'teacher must stay in eval mode (BaseDistiller keeps it so), or '
            'build it with teacher_exec=dict(fold_batchnorm=False)')
    return x


def fold_batchnorm(model: nn.Module, keep: Iterable[str] = ()) -> int:
    """Fold every eval-mode BatchNorm of :func:`foldable_pairs` into its
    convolution, in place; returns how many were folded. Call it after the
    weights are loaded and before any device or dtype move is undone: the
    folded buffers follow ``model.to(...)`` like the weights."""
    pairs = foldable_pairs(model, keep)
    for conv_path, bn_path in pairs:
        conv = model.get_submodule(conv_path)
        bn = model.get_submodule(bn_path)
        weight, bias = fuse_conv_bn_weights(conv.weight, conv.bias,
                                            bn.running_mean, bn.running_var,
                                            bn.eps, bn.weight, bn.bias)
        conv.register_buffer('folded_weight', weight.detach(),
                             persistent=False)
        conv.register_buffer('folded_bias', bias.detach(), persistent=False)
        # partials of module-level functions: a folded model can be
        # copied and pickled
        conv.forward = partial(conv_forward, conv)
        bn.forward = partial(_pass_on, bn)
    return len(pairs)


__all__ = [
    'conv_forward', 'conv_weights', 'foldable_pairs', 'fold_batchnorm',
    'is_plain_conv'
]
