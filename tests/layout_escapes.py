# Copyright (c) mmkd contributors. All rights reserved.
"""Toy FPN necks whose ``forward`` reaches mmcv's RoIAlign kernel, which
reads its input's memory as NCHW, in the ways a reading of
``cls.forward``'s own names misses: through a helper method, a decorated
``forward``, an attribute holding the op, an ``autograd.Function`` defined
outside mmcv and a custom ``torch.ops`` operator; plus a module-level helper
function, which the static plan does not follow (only the pre-flight check
sees it).

Each neck is mmdet's FPN followed by a RoIAlign of every level over its
whole map at its own size (two samples per bin: a bilinear smoothing). Fed
a channels-last map, RoIAlign returns other values, without an error.
They are registered in mmdet's model registry as ``LayoutEscape<Way>Neck``
(:data:`NECKS`).
"""
import functools

import torch
from mmcv.ops import roi_align
from mmcv.utils import ext_loader
from mmdet.models.necks import FPN
from mmdet.registry import MODELS
from torch import Tensor

_ext = ext_loader.load_ext('_ext', ['roi_align_forward'])


def whole_map_rois(x: Tensor) -> Tensor:
    """One RoI ``(image, x1, y1, x2, y2)`` over the whole map per image."""
    n, _, h, w = x.shape
    return torch.tensor([[i, 0.0, 0.0, w, h] for i in range(n)], dtype=x.dtype,
                        device=x.device)


def align_whole_map(x: Tensor) -> Tensor:
    """mmcv's ``roi_align`` of the whole map, output at the map's size."""
    return roi_align(x, whole_map_rois(x), tuple(x.shape[-2:]), 1.0, 2, 'avg',
                     True)


class WholeMapAlign(torch.autograd.Function):
    """:func:`align_whole_map` by mmcv's compiled kernel, called from a
    Function outside mmcv (forward only: the teacher runs under
    ``no_grad``)."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        out = x.new_zeros(n, c, h, w)
        unused = x.new_zeros(0)
        _ext.roi_align_forward(x, whole_map_rois(x), out, unused, unused,
                               aligned_height=h, aligned_width=w,
                               spatial_scale=1.0, sampling_ratio=2,
                               pool_mode=1, aligned=True)
        return out


@torch.library.custom_op('mmkd_test::align_whole_map', mutates_args=())
def align_whole_map_op(x: Tensor) -> Tensor:
    """:func:`align_whole_map` as a custom ``torch.ops`` operator: its
    kernel gets the tensor with its own strides."""
    return align_whole_map(x)


def keep_signature(forward):
    """A decorator that hides ``forward``'s code behind a wrapper
    (``functools.wraps``)."""

    @functools.wraps(forward)
    def wrapper(*args, **kwargs):
        return forward(*args, **kwargs)

    return wrapper


class HelperNeck(FPN):
    """FPN, then RoIAlign in a helper method."""

    def forward(self, inputs):
        return tuple(self._align(out) for out in super().forward(inputs))

    def _align(self, x):
        return roi_align(x, whole_map_rois(x), tuple(x.shape[-2:]), 1.0, 2,
                         'avg', True)


class DecoratedNeck(FPN):
    """FPN, then RoIAlign in a ``functools.wraps``-decorated forward."""

    @keep_signature
    def forward(self, inputs):
        outs = FPN.forward(self, inputs)
        return tuple(
            roi_align(o, whole_map_rois(o), tuple(o.shape[-2:]), 1.0, 2, 'avg',
                      True) for o in outs)


class AttributeNeck(FPN):
    """FPN, then RoIAlign kept in an attribute of the instance."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.align = roi_align

    def forward(self, inputs):
        outs = FPN.forward(self, inputs)
        return tuple(
            self.align(o, whole_map_rois(o), tuple(o.shape[-2:]), 1.0, 2,
                       'avg', True) for o in outs)


class FunctionNeck(FPN):
    """FPN, then RoIAlign through an ``autograd.Function`` of this
    module."""

    def forward(self, inputs):
        return tuple(WholeMapAlign.apply(o) for o in FPN.forward(self, inputs))


class TorchOpsNeck(FPN):
    """FPN, then RoIAlign through a custom ``torch.ops`` operator."""

    def forward(self, inputs):
        return tuple(
            torch.ops.mmkd_test.align_whole_map(o)
            for o in FPN.forward(self, inputs))


class GlobalHelperNeck(FPN):
    """FPN, then RoIAlign in a module-level helper function (not followed
    by the static plan)."""

    def forward(self, inputs):
        return tuple(align_whole_map(o) for o in FPN.forward(self, inputs))


#: {way: registered type name}; the static plan finds all but 'global'
NECKS = {}
for way, cls in [('helper', HelperNeck), ('decorated', DecoratedNeck),
                 ('attribute', AttributeNeck), ('function', FunctionNeck),
                 ('torch_ops', TorchOpsNeck), ('global', GlobalHelperNeck)]:
    NECKS[way] = f'LayoutEscape{cls.__name__}'
    MODELS.register_module(name=NECKS[way], module=cls, force=True)
