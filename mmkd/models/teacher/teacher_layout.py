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
- a module with children runs as it is unless its own ``forward`` calls into
  mmcv's compiled ops (its code names an object of ``mmcv.ops`` or a
  compiled function from outside PyTorch); its children are judged on
  their own;
- the data preprocessor and the heads' loss modules are left alone (the
  teacher's forward never calls them);
- everything else is a **boundary**: an mmcv op module, a module whose
  ``forward`` calls an mmcv op, a leaf of an unknown type, and a module that
  takes an argument relayed from the student
  (``teacher_input_from_student``). A boundary and everything inside it keep
  their weights NCHW, and a forward pre-hook makes every tensor it is given
  contiguous; its outputs are then contiguous, and the next PyTorch
  convolution (channels-last weight) turns them channels-last again.

The plan changes no value: the same teacher with ``memory_format=
'contiguous'`` computes the same features up to float rounding.
"""
import functools
import types
from typing import Dict, Iterable, Iterator, List, Optional, Tuple

import torch
import torch.nn as nn
from torch import Tensor

from mmkd.models.recording.recorder import map_tensors

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
#: where compiled code that reads raw NCHW memory comes from
UNSAFE_ORIGINS = ('mmcv.ops', 'mmcv._ext')
#: where compiled functions are layout-aware or take no tensors
SAFE_ORIGINS = ('torch', 'builtins', 'math', '_operator', 'operator', 'numpy',
                'itertools', 'functools', 'collections', 'warnings')


def _origin(obj) -> str:
    """The module an object comes from; for a bound method (e.g. an
    autograd Function's ``apply``, as mmcv's ``roi_align``), its owner's."""
    if isinstance(obj, types.ModuleType):
        return obj.__name__
    owner = getattr(obj, '__self__', None)
    if owner is not None and not isinstance(owner, types.ModuleType):
        return _origin(owner if isinstance(owner, type) else type(owner))
    return getattr(obj, '__module__', None) or ''


def _starts(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + '.') for p in prefixes)


def _code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


@functools.lru_cache(maxsize=None)
def unsafe_calls(cls: type) -> Tuple[str, ...]:
    """The names that ``cls.forward`` reaches through its module's globals
    and that lead to compiled code outside PyTorch (mmcv's ops and other C
    extensions), e.g. ``('ext_module', )`` or ``('roi_align', )``; ``()`` when
    it calls only PyTorch and Python code (once per class)."""
    forward = getattr(cls, 'forward', None)
    code = getattr(forward, '__code__', None)
    if code is None:
        return ()
    env = dict(getattr(forward, '__globals__', {}))
    for name, cell in zip(code.co_freevars, forward.__closure__ or ()):
        try:
            env[name] = cell.cell_contents
        except ValueError:  # an empty cell
            continue
    found = []
    for sub in _code_objects(code):
        for name in sub.co_names + sub.co_freevars:
            if name not in env:
                continue
            obj = env[name]
            origin = _origin(obj)
            compiled = isinstance(obj, types.BuiltinFunctionType) and \
                not _starts(origin, SAFE_ORIGINS) and origin != ''
            if _starts(origin, UNSAFE_ORIGINS) or compiled:
                found.append(name)
    return tuple(sorted(set(found)))


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
    origin = _origin(cls)
    if _starts(origin, UNSAFE_ORIGINS):
        return f'{origin}.{cls.__name__} (an mmcv op)'
    calls = unsafe_calls(cls)
    if calls:
        return (f'{origin}.{cls.__name__} (its forward calls '
                f'{", ".join(calls)})')
    if next(module.children(), None) is None:
        return f'{origin}.{cls.__name__} (a layer of unknown layout)'
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
        if any(b == '' or path.startswith(b + '.') for b in plan):
            continue  # inside a boundary: NCHW already
        if path in relayed:
            plan[path] = 'takes an input relayed from the student'
            continue
        reason = boundary_reason(module, safe_forwards)
        if reason is not None:
            plan[path] = reason
    return plan


def _contiguous_inputs(module, args, kwargs):
    convert = Tensor.contiguous
    return map_tensors(args, convert), map_tensors(kwargs, convert)


def apply_layout(model: nn.Module, plan: Dict[str, str]) -> List:
    """Put ``model`` in channels-last outside the boundaries of ``plan``:
    the 4-D parameters and buffers of every other module become
    channels-last, and each boundary gets a forward pre-hook that makes its
    tensor inputs contiguous (after the pre-hooks registered before it, e.g.
    the student-input relay's). Returns the hook handles."""
    inside = set()
    for path in plan:
        prefix = f'{path}.' if path else ''
        sub = model.get_submodule(path)
        inside.update(prefix + name for name, _ in sub.named_modules())
        inside.add(path)
    for path, module in model.named_modules():
        if path in inside:
            continue
        for name, tensor in list(module._parameters.items()) + \
                list(module._buffers.items()):
            if isinstance(tensor, Tensor) and tensor.dim() == 4:
                # as Module.to(memory_format=...): explicit NHWC strides,
                # also for 1 x 1 kernels, whose NCHW strides would pass
                # for channels-last too (and make convolutions pick NCHW)
                tensor.data = tensor.data.to(memory_format=torch.channels_last)
    return [
        model.get_submodule(path).register_forward_pre_hook(
            _contiguous_inputs, with_kwargs=True) for path in plan
    ]


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
    'describe_plan', 'plan_layout', 'unsafe_calls'
]
