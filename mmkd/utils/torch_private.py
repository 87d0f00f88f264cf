# Copyright (c) mmkd contributors. All rights reserved.
"""The private PyTorch entry points mmkd uses, behind one seam.

The teacher's speed-ups (prepacked oneDNN weights, ``torch.compile`` with
frozen weights) and the recorder's in-place check rest on parts of torch
that are not public API and may be renamed or change signature in any
release. Every use goes through this module: each entry point in
:data:`ENTRY_POINTS` is looked up by its dotted path and *probed* once (a
call of the form mmkd makes, on a tiny input, checked against the public
computation). When the lookup or the probe fails, :func:`available` says
False, mmkd takes the plain path that entry point's feature has (named in
:data:`ENTRY_POINTS`), and a warning naming the entry point is given once
per process.

``Module._modules`` is not used anywhere: the public ``named_children`` /
``setattr`` do the same.
"""
import functools
import warnings
from contextlib import contextmanager, nullcontext
from typing import Dict, List, NamedTuple, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor


class EntryPoint(NamedTuple):
    path: str  # dotted path under torch
    feature: str  # what uses it
    fallback: str  # what runs when it is missing


ENTRY_POINTS: Dict[str, EntryPoint] = {
    'mkldnn_reorder_conv_weight':
    EntryPoint(
        'torch.ops.mkldnn._reorder_convolution_weight',
        "the teacher's prepacked convolution weights (teacher_exec "
        'prepack=True)', 'the plain convolution (prepack off)'),
    'mkldnn_conv_pointwise':
    EntryPoint(
        'torch.ops.mkldnn._convolution_pointwise',
        "the teacher's prepacked convolution weights (teacher_exec "
        'prepack=True)', 'the plain convolution (prepack off)'),
    'inductor_config':
    EntryPoint(
        'torch._inductor.config',
        "freezing the teacher's weights in torch.compile (teacher_exec "
        'compile=True)', 'torch.compile without frozen weights'),
    'tensor_version':
    EntryPoint(
        'torch.Tensor._version',
        "the recorder's check that a recorded output is not modified in "
        'place later', 'every recorded output copied'),
}
_warned: set = set()


def _lookup(path: str):
    parts = path.split('.')
    obj = __import__(parts[0])
    for part in parts[1:]:
        obj = getattr(obj, part)  # AttributeError/RuntimeError if missing
    return obj


def _probe_mkldnn() -> bool:
    if not torch.backends.mkldnn.is_available():
        return False
    reorder = _lookup(ENTRY_POINTS['mkldnn_reorder_conv_weight'].path)
    conv = _lookup(ENTRY_POINTS['mkldnn_conv_pointwise'].path)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 4, 5, 5,
                    generator=gen).to(memory_format=torch.channels_last)
    weight = torch.randn(3, 4, 3, 3, generator=gen)
    bias = torch.randn(3, generator=gen)
    packed = reorder(weight, [1, 1], [1, 1], [1, 1], 1, list(x.shape))
    out = conv(x, packed, bias, [1, 1], [1, 1], [1, 1], 1, 'none', [], '')
    return torch.allclose(out, F.conv2d(x, weight, bias, padding=1), atol=1e-5)


def _probe_inductor() -> bool:
    config = _lookup(ENTRY_POINTS['inductor_config'].path)
    before = config.freezing
    with config.patch(freezing=True):
        inside = config.freezing
    return inside is True and config.freezing == before


def _probe_version() -> bool:
    t = torch.zeros(2)
    before = _lookup(ENTRY_POINTS['tensor_version'].path).__get__(t)
    t.add_(1)
    after = _lookup(ENTRY_POINTS['tensor_version'].path).__get__(t)
    return isinstance(before, int) and after > before


@functools.lru_cache(maxsize=None)
def _entry(name: str):
    """The object entry point ``name`` names (looked up once)."""
    return _lookup(ENTRY_POINTS[name].path)


_PROBES = {
    'mkldnn_reorder_conv_weight': _probe_mkldnn,
    'mkldnn_conv_pointwise': _probe_mkldnn,
    'inductor_config': _probe_inductor,
    'tensor_version': _probe_version,
}


@functools.lru_cache(maxsize=None)
def _probe(name: str) -> Optional[str]:
    """None when ``name`` works, else why not."""
    try:
        if _PROBES[name]():
            return None
        return 'its probe computed a wrong result'
    except Exception as exc:  # noqa: BLE001 - any failure: plain path
        return f'{type(exc).__name__}: {exc}'


def available(name: str) -> bool:
    """Whether private entry point ``name`` (a key of
    :data:`ENTRY_POINTS`) exists in this torch and behaves as mmkd calls
    it; warns once when not."""
    problem = _probe(name)
    if problem is None:
        return True
    if name not in _warned:
        _warned.add(name)
        entry = ENTRY_POINTS[name]
        warnings.warn(
            f'torch {torch.__version__}: {entry.path} is unavailable '
            f'({problem}); {entry.feature} falls back to {entry.fallback}. '
            'The results are the same; only the speed differs.',
            RuntimeWarning, stacklevel=2)
    return False


def unavailable() -> List[str]:
    """The entry points this torch lacks (probing each)."""
    return [name for name in ENTRY_POINTS if _probe(name) is not None]


def reset() -> None:
    """Forget the probes' results and the warnings given (tests)."""
    _probe.cache_clear()
    _entry.cache_clear()
    _warned.clear()


# ------------------------------------------------------------- the calls
def reorder_conv_weight(weight: Tensor, padding: Sequence[int],
                        stride: Sequence[int], dilation: Sequence[int],
                        groups: int, input_shape: Sequence[int]) -> Tensor:
    """``weight`` in oneDNN's blocked layout for inputs of
    ``input_shape``."""
    return _entry('mkldnn_reorder_conv_weight')(weight, list(padding),
                                                list(stride), list(dilation),
                                                groups, list(input_shape))


def conv_with_packed_weight(x: Tensor, packed: Tensor, bias: Optional[Tensor],
                            padding: Sequence[int], stride: Sequence[int],
                            dilation: Sequence[int], groups: int) -> Tensor:
    """The convolution of ``x`` with a weight from
    :func:`reorder_conv_weight` (no fused activation)."""
    return _entry('mkldnn_conv_pointwise')(x, packed, bias, list(padding),
                                           list(stride), list(dilation),
                                           groups, 'none', [], '')


@contextmanager
def inductor_freezing():
    """Inductor's ``freezing`` on (frozen weights compiled as constants),
    or nothing where that configuration is unavailable."""
    if not available('inductor_config'):
        with nullcontext():
            yield
        return
    with _entry('inductor_config').patch(freezing=True):
        yield


def tensor_version(t: Tensor) -> Optional[int]:
    """``t``'s in-place version counter, or None where unavailable."""
    if not available('tensor_version'):
        return None
    return _entry('tensor_version').__get__(t)
