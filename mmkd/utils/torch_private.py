# Copyright (c) mmkd contributors. All rights reserved.
"""The private PyTorch entry points mmkd uses, behind one seam.

The teacher's speed-ups (prepacked oneDNN weights, ``torch.compile`` with
frozen weights) and the recorder's in-place check rest on parts of torch
that are not public API and may be renamed or change signature in any
release. Every use goes through this module: each entry point in
:data:`ENTRY_POINTS` is looked up by its dotted path and *probed* once (a
call of the form mmkd makes, on a tiny input, checked against the public
computation), in a fixed context (:func:`probe_context`: grad mode on,
inference mode and autocast off, float32, CPU), so that the answer kept for
the process does not depend on the context of the first caller. When the
lookup or the probe fails, :func:`available` says False, mmkd takes the
plain path that entry point's feature has (named in :data:`ENTRY_POINTS`),
and a warning naming the entry point and the reason (backend unavailable,
missing entry point, changed signature, wrong result) is given once per
process.

``Module._modules`` is not used anywhere: the public ``named_children`` /
``setattr`` do the same.
"""
import functools
import warnings
from contextlib import contextmanager, nullcontext
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

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


@contextmanager
def probe_context():
    """The fixed context every probe runs in, whatever the caller's: grad
    mode on, inference mode and autocast off, default dtype float32,
    default device the CPU. A probe's answer is cached for the process, so
    it must not depend on where the first caller happened to be (e.g. a
    first probe inside ``torch.inference_mode()``, whose tensors have no
    version counter)."""
    dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        with torch.inference_mode(False), torch.enable_grad(), \
                torch.autocast('cpu', enabled=False), torch.device('cpu'):
            yield
    finally:
        torch.set_default_dtype(dtype)


def _mkldnn_backend() -> Optional[str]:
    if torch.backends.mkldnn.is_available():
        return None
    return ('this torch build has no oneDNN: '
            'torch.backends.mkldnn.is_available() is False')


def _probe_mkldnn(reorder, conv) -> bool:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 4, 5, 5,
                    generator=gen).to(memory_format=torch.channels_last)
    weight = torch.randn(3, 4, 3, 3, generator=gen)
    bias = torch.randn(3, generator=gen)
    packed = reorder(weight, [1, 1], [1, 1], [1, 1], 1, list(x.shape))
    out = conv(x, packed, bias, [1, 1], [1, 1], [1, 1], 1, 'none', [], '')
    return torch.allclose(out, F.conv2d(x, weight, bias, padding=1), atol=1e-5)


def _probe_inductor(config) -> bool:
    before = config.freezing
    with config.patch(freezing=True):
        inside = config.freezing
    return inside is True and config.freezing == before


def _probe_version(version) -> bool:
    t = torch.zeros(2)
    before = version.__get__(t)
    t.add_(1)
    after = version.__get__(t)
    return isinstance(before, int) and after > before


@functools.lru_cache(maxsize=None)
def _entry(name: str):
    """The object entry point ``name`` names (looked up once)."""
    return _lookup(ENTRY_POINTS[name].path)


class Probe(NamedTuple):
    check: Callable[..., bool]  # called with the looked-up entry points
    needs: Tuple[str, ...]  # the entry points it calls, in order
    backend: Optional[Callable[[], Optional[str]]] = None  # why missing


_MKLDNN = Probe(_probe_mkldnn,
                ('mkldnn_reorder_conv_weight', 'mkldnn_conv_pointwise'),
                _mkldnn_backend)
_PROBES = {
    'mkldnn_reorder_conv_weight': _MKLDNN,
    'mkldnn_conv_pointwise': _MKLDNN,
    'inductor_config': Probe(_probe_inductor, ('inductor_config', )),
    'tensor_version': Probe(_probe_version, ('tensor_version', )),
}


@functools.lru_cache(maxsize=None)
def _probe(name: str) -> Optional[str]:
    """None when ``name`` works, else why not: the backend it needs is
    missing, an entry point it calls is missing, the call mmkd makes fails
    (a changed signature) or computes a wrong result. Run in
    :func:`probe_context`."""
    probe = _PROBES[name]
    with probe_context():
        missing = probe.backend() if probe.backend else None
        if missing:
            return f'backend unavailable: {missing}'
        try:
            found = [_lookup(ENTRY_POINTS[n].path) for n in probe.needs]
        except Exception as exc:  # noqa: BLE001 - any failure: plain path
            return f'missing entry point: {type(exc).__name__}: {exc}'
        try:
            works = probe.check(*found)
        except Exception as exc:  # noqa: BLE001
            return ('changed signature: the call mmkd makes fails, '
                    f'{type(exc).__name__}: {exc}')
    if works:
        return None
    return ('wrong result: the call mmkd makes runs but its result differs '
            'from the public computation')


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
