# Copyright (c) mmkd contributors. All rights reserved.
"""Prepacked oneDNN weights for a frozen teacher's convolutions on the CPU.

On the CPU, PyTorch runs a float32 convolution with oneDNN, which first
reorders the weight into its blocked layout: on every call, since a weight
may change between calls. For the deep layers of a ResNet at detection
input sizes (2048 channels on an 8 x 8 map) the reorder costs as much as
the convolution (measured 1.6-1.9 x faster prepacked). A frozen teacher's
weights do not change, so each convolution's weight is reordered once, on
its first CPU call, and kept for the calls of the same input size, as
inductor's ``freezing`` does for compiled graphs, with the same PyTorch
oneDNN ops inductor emits (``mkldnn._reorder_convolution_weight``,
``mkldnn._convolution_pointwise``). The values are those of the plain
convolution up to float rounding (bit-equal in every case measured: the
same oneDNN kernels compute them).

oneDNN picks the weight's layout by the input size, and a weight packed for
one size can run far slower at another (a 1 x 1 convolution 2048 -> 512
packed for a 7 x 8 map ran 12-15 x slower than the plain convolution on a
10 x 9 one). So the packed weight is kept for one input size, the last
one, and a call of another size packs again; a convolution whose input
size has changed more than ``MAX_SIZE_CHANGES`` times stops packing and
runs as the plain convolution from then on (repacking on every call
measured slower than the plain convolution's own reorder). Inputs of one
size (the crops of segmentation, fixed-size detection, the benchmark) get
the full gain; inputs of changing sizes (COCO's keep-ratio resize) the
plain channels-last convolution's speed after a few batches.

The prepacked path is taken only where it applies: a float32 channels-last
CPU input (a channels-last teacher, see ``TeacherExecution``; with NCHW
inputs it measured slower than the plain convolution), no autograd, no
autocast, not inside ``torch.compile`` (which packs for itself); elsewhere
(GPU, half precision, training) the convolution runs as before. The
packed weight lives outside the module's parameters and buffers:
``state_dict`` is unchanged, a copy of the model (``deepcopy``, pickling)
packs again on its first call, and a weight loaded in place after packing
(its version counter moves) is packed again.
"""
from functools import partial
from typing import Optional, Tuple

import torch
import torch.nn as nn
from torch import Tensor

from mmkd.utils.torch_private import (available, conv_with_packed_weight,
                                      reorder_conv_weight, tensor_version)
from .bn_folding import conv_forward, conv_weights, is_plain_conv

# what prepacking needs of torch's private API (the version counter tells a
# weight loaded in place after packing)
PREPACK_ENTRY_POINTS = ('mkldnn_reorder_conv_weight', 'mkldnn_conv_pointwise',
                        'tensor_version')

MAX_SIZE_CHANGES = 2


class PackedWeight:
    """A convolution's prepacked weight, with the weight (identity and
    version) and the input shape it was packed for; copies of a model start
    empty (an opaque oneDNN tensor can be neither copied nor pickled)."""

    def __init__(self) -> None:
        self.packed: Optional[Tensor] = None
        self.source: Optional[Tuple] = None
        self.shape: Optional[Tuple[int, ...]] = None
        self.size_changes = 0

    @property
    def gave_up(self) -> bool:
        """The input size changed too often: no more packing."""
        return self.size_changes > MAX_SIZE_CHANGES

    def get(self, conv: nn.Conv2d, weight: Tensor,
            x: Tensor) -> Optional[Tensor]:
        """The weight packed for ``x``'s size, or None once given up."""
        shape = tuple(x.shape)
        if self.packed is not None and shape != self.shape:
            self.size_changes += 1
            if self.gave_up:
                self.packed = None
        if self.gave_up:
            return None
        source = (weight.data_ptr(), tensor_version(weight))
        if self.packed is None or (source, shape) != (self.source, self.shape):
            self.packed = reorder_conv_weight(weight, conv.padding,
                                              conv.stride, conv.dilation,
                                              conv.groups, shape)
            self.source, self.shape = source, shape
        return self.packed

    def __deepcopy__(self, memo) -> 'PackedWeight':
        return PackedWeight()

    def __getstate__(self) -> dict:
        return {}

    def __setstate__(self, state: dict) -> None:
        self.__init__()


def _packable(x: Tensor, weight: Tensor) -> bool:
    return (x.device.type == 'cpu' and x.dim() == 4 and x.numel() > 0
            and x.is_contiguous(memory_format=torch.channels_last)
            and x.dtype == torch.float32 and weight.dtype == torch.float32
            and not torch.is_grad_enabled()
            and not torch.is_autocast_enabled('cpu')
            and not torch.compiler.is_compiling())


def _prepacked_forward(self: nn.Conv2d, x: Tensor) -> Tensor:
    weight, bias = conv_weights(self)
    packed = self.packed_weight.get(self, weight, x) if _packable(
        x, weight) else None
    if packed is None:
        return conv_forward(self, x)
    return conv_with_packed_weight(x, packed, bias, self.padding, self.stride,
                                   self.dilation, self.groups)


def prepackable(conv: nn.Module) -> bool:
    """A plain 2-D convolution with zero padding given as numbers."""
    return is_plain_conv(conv) and not isinstance(conv.padding, str)


def prepack_conv_weights(model: nn.Module) -> int:
    """Make every :func:`prepackable` convolution of ``model`` run with a
    prepacked weight on the CPU (see the module docstring), in place,
    after :func:`~mmkd.models.teacher.bn_folding.fold_batchnorm` (it
    packs the folded weight). Returns how many convolutions it covers; 0
    where this PyTorch has no oneDNN, or lacks one of the private entry
    points used (probed by :mod:`mmkd.utils.torch_private`, which warns
    once; the convolutions then run as they are)."""
    if not all(available(name) for name in PREPACK_ENTRY_POINTS):
        return 0
    convs = [m for m in model.modules() if prepackable(m)]
    for conv in convs:
        conv.packed_weight = PackedWeight()
        conv.forward = partial(_prepacked_forward, conv)
    return len(convs)


__all__ = [
    'MAX_SIZE_CHANGES', 'PackedWeight', 'prepackable', 'prepack_conv_weights'
]
