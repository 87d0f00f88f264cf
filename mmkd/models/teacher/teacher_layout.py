# Copyright (c) mmkd contributors. All rights reserved.
"""Which parts of a channels-last teacher may see channels-last tensors.

PyTorch's own convolutions, norms, activations, pooling and interpolation
take any memory layout and compute the same values (up to float rounding).
Other code may not: mmcv's ops (``RoIAlign``, ``DeformConv2d``, ...) read
their input's memory as NCHW whatever its strides say, so on a
channels-last map ``RoIAlign`` returns wrong values without an error and
``DeformConv2d`` raises. :func:`plan_layout` decides, once at build time,
where a channels-last teacher must hand its tensors on contiguous:

- a module whose class (its ``forward``) is one of PyTorch's layout-agnostic
  layers (:data:`SAFE_TYPES`; a subclass that overrides ``forward``, e.g.
  mmcv's ``MaskedConv2d``, is not), or one of mmcv's thin wrappers of them
  (:data:`SAFE_MMCV_TYPES`), runs as it is;
- a module with children runs as it is unless its ``forward`` reaches code
  that may read raw NCHW memory (an object of ``mmcv.ops``, a compiled
  function from outside PyTorch, an ``autograd.Function`` defined outside
  PyTorch, a ``torch.ops`` operator outside PyTorch's namespaces) by name,
  through a method called on ``self``, through the function a decorator
  wraps, or held in an attribute of the module
  (:mod:`~mmkd.models.teacher.teacher_code_scan`); its children are judged
  on their own;
- the data preprocessor and the heads' loss modules are left alone (the
  teacher's forward never calls them);
- everything else is a **boundary**: an mmcv op module, a module whose
  ``forward`` reaches such code, a leaf of an unknown type, and a module
  that takes an argument relayed from the student
  (``teacher_input_from_student``). A boundary and everything inside it keep
  their weights NCHW, and its ``forward`` makes every tensor it is given
  contiguous (also when it is called as ``module.forward(...)``, as
  mmdet's tensor mode calls its heads); its outputs are then contiguous,
  and the next PyTorch convolution (channels-last weight) turns them
  channels-last again.

Reading code cannot promise completeness (module-level helper functions,
for one, are not followed), so the plan is checked on real data before
training: :mod:`~mmkd.models.teacher.teacher_layout_check` compares the
teacher's outputs with the NCHW teacher's and keeps a module NCHW
(:func:`make_boundary`) where they differ.

The plan changes no value: the same teacher with ``memory_format=
'contiguous'`` computes the same features up to float rounding.
"""
import functools
from contextlib import contextmanager
from typing import Dict, Iterable, Iterator, Optional, Tuple

import torch
import torch.nn as nn
from torch import Tensor

from mmkd.models.recording.recorder import map_tensors
from .teacher_code_scan import (UNSAFE_ORIGINS, origin, starts,
                                unsafe_attributes, unsafe_calls)

#: PyTorch layers that take channels-last tensors and compute the same values
SAFE_TYPES: Tuple[type, ...] = (
    nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
    nn.ConvTranspose3d, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d,
    nn.SyncBatchNorm, nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm1d,
    nn.InstanceNorm2d, nn.InstanceNorm3d, nn.LocalResponseNorm, nn.ReLU,
    nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU,
    nn.SiLU, nn.Mish, nn.Sigmoid, nn.Tanh, nn.Hardswish, nn.Hardsigmoid,
    nn.Hardtanh, nn.Softplus, nn.Softmax, nn.Softmax2d, nn.LogSoftmax,
    nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d,
    nn.AvgPool3d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d,
    nn.AdaptiveMaxPool3d, nn.Upsample, nn.UpsamplingNearest2d,
    nn.UpsamplingBilinear2d, nn.PixelShuffle, nn.PixelUnshuffle, nn.ZeroPad2d,
    nn.ConstantPad2d, nn.ReflectionPad2d, nn.ReplicationPad2d, nn.Dropout,
    nn.Dropout2d, nn.Dropout3d, nn.Identity, nn.Linear, nn.Flatten,
    nn.Sequential)
#: containers without a forward of their own
CONTAINER_TYPES: Tuple[type, ...] = (nn.ModuleList, nn.ModuleDict)
#: (module, class name) of mmcv's thin wrappers of PyTorch layers
SAFE_MMCV_TYPES: Tuple[Tuple[str, str], ...] = (
    ('mmcv.cnn.bricks.wrappers', 'Conv2d'),
    ('mmcv.cnn.bricks.wrappers', 'Conv3d'),
    ('mmcv.cnn.bricks.wrappers', 'ConvTranspose2d'),
    ('mmcv.cnn.bricks.wrappers', 'ConvTranspose3d'),
    ('mmcv.cnn.bricks.wrappers', 'MaxPool2d'),
    ('mmcv.cnn.bricks.wrappers', 'MaxPool3d'),
    ('mmcv.cnn.bricks.wrappers', 'Linear'),
    ('mmcv.cnn.bricks.scale', 'Scale'),
    ('mmcv.cnn.bricks.scale', 'LayerScale'),
    ('mmcv.cnn.bricks.swish', 'Swish'),
    ('mmcv.cnn.bricks.hsigmoid', 'HSigmoid'),
    ('mmcv.cnn.bricks.hswish', 'HSwish'),
    ('mmcv.cnn.bricks.drop', 'DropPath'),
    ('mmcv.cnn.bricks.drop', 'Dropout'),
)


def _safe_forwards() -> set:
    forwards = {cls.forward for cls in SAFE_TYPES}
    for mod_name, cls_name in SAFE_MMCV_TYPES:
        try:
            module = __import__(mod_name, fromlist=[cls_name])
        except ImportError:
            continue
        cls = getattr(module, cls_name, None)
        if isinstance(cls, type):
            forwards.add(cls.forward)
    return forwards


def off_forward_path(module: nn.Module) -> bool:
    """Parts of an OpenMMLab model that its feature forward never calls:
    the data preprocessor (the teacher gets the preprocessed batch) and the
    loss modules of the heads (``<package>.losses``)."""
    from mmengine.model import BaseDataPreprocessor
    return isinstance(module, BaseDataPreprocessor) or \
        '.losses.' in f'{type(module).__module__}.'


def boundary_reason(module: nn.Module, safe_forwards: set) -> Optional[str]:
    """Why ``module`` must be given contiguous tensors (see the module
    docstring), or None when channels-last tensors may reach it."""
    cls = type(module)
    if isinstance(module, CONTAINER_TYPES) or cls.forward in safe_forwards \
            or off_forward_path(module):
        return None
    name = f'{origin(cls)}.{cls.__name__}'
    if starts(origin(cls), UNSAFE_ORIGINS):
        return f'{name} (an mmcv op)'
    calls = unsafe_calls(cls) + unsafe_attributes(module)
    if calls:
        return f'{name} (its forward calls {", ".join(calls)})'
    if next(module.children(), None) is None:
        return f'{name} (a layer of unknown layout)'
    return None


def plan_layout(
    model: nn.Module, relayed: Iterable[str] = ()) -> Dict[str, str]:
    """``{module path: reason}`` of the outermost boundaries of ``model``
    (see the module docstring); ``relayed``: paths of the modules given an
    argument from the student."""
    relayed = set(relayed)
    safe_forwards = _safe_forwards()
    plan: Dict[str, str] = {}
    for path, module in model.named_modules():
        if inside(path, plan):
            continue  # inside a boundary: NCHW already
        if path in relayed:
            plan[path] = 'takes an input relayed from the student'
            continue
        reason = boundary_reason(module, safe_forwards)
        if reason is not None:
            plan[path] = reason
    return plan


def inside(path: str, boundaries: Iterable[str]) -> bool:
    """Whether module ``path`` is one of ``boundaries`` or inside one."""
    return any(b in ('', path) or path.startswith(b + '.') for b in boundaries)


def _contiguous_forward(module: nn.Module, forward, *args, **kwargs):
    """A boundary's forward: ``forward`` (the module's own when None) on
    contiguous copies of its tensor arguments."""
    convert = Tensor.contiguous
    args, kwargs = map_tensors(args, convert), map_tensors(kwargs, convert)
    if forward is None:
        return type(module).forward(module, *args, **kwargs)
    return forward(*args, **kwargs)


def _weights(modules: Iterable[nn.Module]) -> Iterator[Tensor]:
    """The 4-D parameters and buffers of ``modules``."""
    for module in modules:
        for tensor in list(module._parameters.values()) + \
                list(module._buffers.values()):
            if isinstance(tensor, Tensor) and tensor.dim() == 4:
                yield tensor


def _nchw(tensor: Tensor) -> bool:
    """Whether ``tensor`` has the strides of a contiguous tensor (a 1 x 1
    kernel may be contiguous with channels-last strides)."""
    expected, step = [], 1
    for size in reversed(tensor.shape):
        expected.insert(0, step)
        step *= max(size, 1)
    return list(tensor.stride()) == expected


def _set_memory_format(modules: Iterable[nn.Module], memory_format) -> None:
    """The 4-D weights of ``modules`` in ``memory_format``, with explicit
    strides (as ``Module.to(memory_format=...)``: a 1 x 1 kernel's NCHW
    strides would pass for channels-last too, and make convolutions pick
    NCHW)."""
    for tensor in _weights(modules):
        if memory_format == torch.channels_last:
            tensor.data = tensor.data.to(memory_format=memory_format)
        elif not _nchw(tensor):
            tensor.data = tensor.data.clone(memory_format=memory_format)


@contextmanager
def nchw_weights(model: nn.Module):
    """Every 4-D weight of ``model`` with NCHW strides inside the context
    (copies of those that have others), the same tensors as before after
    it."""
    saved = [(t, t.data) for t in _weights(model.modules()) if not _nchw(t)]
    try:
        for tensor, data in saved:
            tensor.data = data.clone(memory_format=torch.contiguous_format)
        yield
    finally:
        for tensor, data in saved:
            tensor.data = data


def make_boundary(model: nn.Module, path: str) -> None:
    """Make module ``path`` of ``model`` a boundary: the 4-D weights inside
    it NCHW, and its ``forward`` (whatever stands in it: a folded or
    prepacked convolution's, a compiled one) given contiguous tensors;
    again on a boundary does nothing."""
    module = model.get_submodule(path)
    current = vars(module).get('forward')
    if isinstance(current, functools.partial) and \
            current.func is _contiguous_forward:
        return
    _set_memory_format(module.modules(), torch.contiguous_format)
    # a partial of a module-level function: the model can be copied
    module.forward = functools.partial(_contiguous_forward, module, current)


def apply_layout(model: nn.Module, plan: Dict[str, str]) -> None:
    """Put ``model`` in channels-last outside the boundaries of ``plan``:
    the 4-D parameters and buffers of every other module become
    channels-last, and each boundary is kept NCHW
    (:func:`make_boundary`; its forward runs after every forward pre-hook,
    e.g. the student-input relay's, and makes what they give it contiguous
    too)."""
    _set_memory_format(
        (m for p, m in model.named_modules() if not inside(p, plan)),
        torch.channels_last)
    for path in plan:
        make_boundary(model, path)


def describe_plan(plan: Dict[str, str], limit: int = 6) -> str:
    """One line per boundary (at most ``limit``, then a count)."""
    lines = [
        f'{path or "<teacher>"}: {reason}'
        for path, reason in list(plan.items())[:limit]
    ]
    if len(plan) > limit:
        lines.append(f'... and {len(plan) - limit} more')
    return '; '.join(lines)


__all__ = [
    'SAFE_TYPES', 'SAFE_MMCV_TYPES', 'apply_layout', 'boundary_reason',
    'describe_plan', 'inside', 'make_boundary', 'nchw_weights', 'plan_layout',
    'unsafe_calls'
]
