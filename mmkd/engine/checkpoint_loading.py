# Copyright (c) mmkd contributors. All rights reserved.
"""Checkpoints and ``torch.load(weights_only=True)``, both ways.

Since torch 2.6 ``torch.load`` defaults to ``weights_only=True``, which
refuses every pickled global that is not on torch's allowlist. A checkpoint
written by a plain mmengine Runner (including plain mmdet/mmseg
``tools/train.py``) pickles its message hub: ``HistoryBuffer`` objects,
numpy arrays and scalars, and ``getattr(HistoryBuffer, 'min')``-style
references to the buffer's statistics methods (protocol 2 pickles a method
by ``getattr``).

**Writing** (mmkd's runs): :func:`make_checkpoint_plain` replaces those
values by plain stand-ins (``{PLAIN_TAG: 'HistoryBuffer' | 'numpy', ...}``
dicts of lists, ints and bytes) before the file is written, so that every
checkpoint mmkd writes loads with torch's own safe loader, in a process
that never imported mmkd (``init_detector``, ``init_model``, a bare
``torch.load``). :func:`from_plain_values` turns the stand-ins back into
exactly the values that were saved; mmkd's loaders do that, so resume sees
what mmengine saved.

**Reading** checkpoints written without mmkd (or by mmkd before it wrote
plain values): we keep ``weights_only=True`` and allowlist exactly the
globals above, only while mmengine's :class:`CheckpointLoader` runs.
``builtins.getattr`` is never allowlisted: the name is bound to
:func:`history_buffer_getattr`, which resolves only the public statistics
methods of ``HistoryBuffer`` and refuses anything else. A checkpoint with
any other pickled global is refused with :class:`UnsafeCheckpointError`,
nothing of it is unpickled.
"""
import contextlib
import pickle
from collections import Counter, OrderedDict
from typing import Any, Callable, List, Optional, Tuple

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint carries a pickled global that mmkd will not unpickle."""


_HISTORY_BUFFER_METHODS = frozenset(
    name for name in ('min', 'max', 'mean', 'current', 'data')
    if callable(getattr(HistoryBuffer, name, None)))


def history_buffer_getattr(obj: Any, name: str) -> Callable:
    """The only ``getattr`` a checkpoint may call: a statistics method of
    :class:`HistoryBuffer` (``HistoryBuffer.min``, ``.max``, ``.mean``,
    ``.current``)."""
    if obj is HistoryBuffer and name in _HISTORY_BUFFER_METHODS:
        return getattr(HistoryBuffer, name)
    raise UnsafeCheckpointError(
        f'checkpoint asks for getattr({obj!r}, {name!r}); only '
        f'HistoryBuffer.{{{", ".join(sorted(_HISTORY_BUFFER_METHODS))}}} '
        'may be resolved while loading a checkpoint')


def _numpy_globals() -> List[Any]:
    """numpy's array/scalar/dtype reconstructors, under both module paths
    (``numpy.core`` for numpy 1.x pickles, ``numpy._core`` for 2.x)."""
    multiarray = np.core.multiarray
    items: List[Any] = [np.ndarray, np.dtype]
    for mod in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        items.append((multiarray._reconstruct, f'{mod}._reconstruct'))
        items.append((multiarray.scalar, f'{mod}.scalar'))
    # dtype classes (numpy>=1.25 pickles dtypes through their class)
    for code in '?bBhHiIlLqQefdgFDGSUV':
        items.append(type(np.dtype(code)))
    return items


def safe_checkpoint_globals() -> List[Any]:
    """Every global an mmengine checkpoint needs beyond torch's defaults."""
    return [HistoryBuffer,
            (history_buffer_getattr, 'builtins.getattr')] + _numpy_globals()


@contextlib.contextmanager
def checkpoint_safe_globals():
    """Context in which ``torch.load(weights_only=True)`` reads mmengine
    checkpoints; foreign globals raise :class:`UnsafeCheckpointError`."""
    with torch.serialization.safe_globals(safe_checkpoint_globals()):
        try:
            yield
        except UnsafeCheckpointError:
            raise
        except pickle.UnpicklingError as err:
            raise UnsafeCheckpointError(
                'Refusing to unpickle this checkpoint: it contains a global '
                'that is neither a tensor/container nor part of an mmengine '
                'checkpoint (torch.load(weights_only=True) said: '
                f'{str(err).splitlines()[0]}). mmkd never loads arbitrary '
                'pickled code. If you trust the file, re-save only its '
                "'state_dict' with plain torch.save and load that.") from err


# ------------------------------------------------- plain checkpoint values
#: the key of a dict that stands for a value torch's safe loader refuses
PLAIN_TAG = '__mmkd_plain__'
# values torch.load(weights_only=True) reads back as they are; exact types
# (numpy's float64 and str_ derive from float and str but pickle as numpy)
_SAFE_LEAVES = (str, bytes, bytearray, int, float, bool, complex, type(None),
                torch.device, torch.dtype, torch.Size)
# containers it rebuilds as their own type (with leaves as dict keys)
_SAFE_MAPPINGS = (dict, OrderedDict, Counter)
_SAFE_SEQUENCES = (list, tuple)
_DESCEND = object()  # a converter's answer: not a leaf, convert the items


def _plain_numpy(value: Any) -> Optional[dict]:
    """A numpy array or scalar as its dtype, shape and bytes; None for an
    object or structured dtype (no plain form)."""
    array = np.asarray(value)
    if array.dtype.hasobject or array.dtype.fields is not None:
        return None
    return {
        PLAIN_TAG: 'numpy',
        'dtype': array.dtype.str,
        'shape': list(array.shape),
        'scalar': isinstance(value, np.generic),
        'data': np.ascontiguousarray(array).tobytes()
    }


def _numpy_value(plain: dict) -> Any:
    array = np.frombuffer(plain['data'], dtype=np.dtype(plain['dtype']))
    array = array.reshape(plain['shape']).copy()
    return array[()] if plain['scalar'] else array


def _plain_history_buffer(buffer: HistoryBuffer) -> Optional[dict]:
    logs, counts = (_plain_numpy(a) for a in buffer.data)
    if logs is None or counts is None:
        return None
    return {
        PLAIN_TAG: 'HistoryBuffer',
        'log_history': logs,
        'count_history': counts,
        'max_length': buffer.max_length
    }


def _history_buffer(plain: dict) -> HistoryBuffer:
    return HistoryBuffer(
        _numpy_value(plain['log_history']),
        _numpy_value(plain['count_history']), plain['max_length'])


_DECODERS = {'numpy': _numpy_value, 'HistoryBuffer': _history_buffer}


def _convert(obj: Any, convert: Callable[[Any, str], Any], where: str) -> Any:
    """``obj`` with ``convert(value, where)`` applied through its dicts,
    lists and tuples (where ``convert`` answers ``_DESCEND``). A container
    none of whose items changed is returned as it is, so a state dict keeps
    its identity and its ``_metadata``."""
    new = convert(obj, where)
    if new is not _DESCEND:
        return new
    kind = type(obj)
    if kind in _SAFE_MAPPINGS:
        items = [(key, _convert(value, convert, f'{where}[{key!r}]'))
                 for key, value in obj.items()]
        if all(new is old for (_, new), old in zip(items, obj.values())):
            return obj
        out = kind()
        for key, value in items:
            out[key] = value
        if hasattr(obj, '__dict__'):  # an OrderedDict state dict's _metadata
            vars(out).update(vars(obj))
        return out
    if kind in _SAFE_SEQUENCES:
        items = [
            _convert(value, convert, f'{where}[{i}]')
            for i, value in enumerate(obj)
        ]
        if all(new is old for new, old in zip(items, obj)):
            return obj
        return kind(items)
    return obj


def to_plain_values(obj: Any,
                    where: str = 'checkpoint') -> Tuple[Any, List[str]]:
    """``obj`` with every ``HistoryBuffer``, numpy array and numpy scalar
    inside its dicts, lists and tuples replaced by a plain stand-in that
    ``torch.load(weights_only=True)`` reads without any allowlist, and the
    places (``"checkpoint['meta']['x'] (module.Type)"``) of the values that
    loader refuses and that have no plain form (left as they are)."""
    problems: List[str] = []

    def encode(value: Any, at: str) -> Any:
        kind = type(value)
        if kind in _SAFE_LEAVES or isinstance(value, torch.Tensor):
            return value
        if kind in _SAFE_MAPPINGS:
            problems.extend(f'{at} (key {key!r}, {type(key).__name__})'
                            for key in value if type(key) not in _SAFE_LEAVES)
            return _DESCEND
        if kind in _SAFE_SEQUENCES:
            return _DESCEND
        if kind is set and all(type(v) in _SAFE_LEAVES for v in value):
            return value
        plain = None
        if isinstance(value, (np.ndarray, np.generic)):
            plain = _plain_numpy(value)
        elif isinstance(value, HistoryBuffer):
            plain = _plain_history_buffer(value)
        if plain is None:
            problems.append(f'{at} ({kind.__module__}.{kind.__qualname__})')
            return value
        return plain

    return _convert(obj, encode, where), problems


def from_plain_values(obj: Any) -> Any:
    """``obj`` with the stand-ins of :func:`to_plain_values` turned back
    into the values they stand for (equal dtypes, shapes and bytes)."""

    def decode(value: Any, at: str) -> Any:
        if type(value) is not dict or PLAIN_TAG not in value:
            return _DESCEND
        decoder = _DECODERS.get(value[PLAIN_TAG])
        if decoder is None:
            raise ValueError(
                f'{at} is a plain value of kind {value[PLAIN_TAG]!r}, '
                f'which this mmkd does not know (it knows {sorted(_DECODERS)}'
                '): the checkpoint was written by a newer mmkd; update mmkd '
                'to load it.')
        return decoder(value)

    return _convert(obj, decode, 'checkpoint')


def make_checkpoint_plain(checkpoint: dict) -> List[str]:
    """Replace each value of ``checkpoint`` (in place, key by key) by its
    :func:`to_plain_values` form; returns the places of the values left
    that ``torch.load(weights_only=True)`` refuses (none in the checkpoints
    of mmengine, mmdet and mmseg runs)."""
    problems = []
    for key, value in list(checkpoint.items()):
        checkpoint[key], found = to_plain_values(value, f'checkpoint[{key!r}]')
        problems += found
    return problems


def _wrap_loader(loader: Callable) -> Callable:
    if getattr(loader, '_mmkd_safe', False):
        return loader

    def safe_loader(*args, **kwargs):
        with checkpoint_safe_globals():
            return from_plain_values(loader(*args, **kwargs))

    safe_loader._mmkd_safe = True
    safe_loader._mmkd_wraps = loader
    safe_loader.__name__ = getattr(loader, '__name__', 'safe_loader')
    safe_loader.__doc__ = loader.__doc__
    return safe_loader


# mmengine's own scheme loaders (public functions of
# mmengine.runner.checkpoint) and the prefixes it registers them under
_MMENGINE_SCHEMES = (
    ('', 'load_from_local'),
    (('http://', 'https://'), 'load_from_http'),
    ('pavi://', 'load_from_pavi'),
    ((r'(\S+\:)?s3://', r'(\S+\:)?petrel://'), 'load_from_ceph'),
    (('modelzoo://', 'torchvision://'), 'load_from_torchvision'),
    (('open-mmlab://', 'openmmlab://'), 'load_from_openmmlab'),
    ('mmcls://', 'load_from_mmcls'),
)


def install_safe_checkpoint_loading() -> List[str]:
    """Wrap each of mmengine's own checkpoint scheme loaders (local paths,
    http(s), open-mmlab://, ...) in :func:`checkpoint_safe_globals`,
    re-registered through the public ``CheckpointLoader.register_scheme``.

    A prefix is replaced only while it still holds mmengine's own loader
    (or mmkd's wrapper of it); a loader someone else registered for a
    prefix is left alone (and the prefix returned). Reading which loader a
    prefix holds uses ``CheckpointLoader._schemes`` (mmengine has no public
    getter); without it nothing is replaced. Idempotent.
    """
    from mmengine.runner import checkpoint as mm_checkpoint
    current = getattr(CheckpointLoader, '_schemes', None)
    if not isinstance(current, dict):
        return [
            p for prefixes, _ in _MMENGINE_SCHEMES
            for p in ([prefixes] if isinstance(prefixes, str) else prefixes)
        ]
    foreign = []
    for prefixes, name in _MMENGINE_SCHEMES:
        loader = getattr(mm_checkpoint, name, None)
        if loader is None:
            continue
        for prefix in ([prefixes] if isinstance(prefixes, str) else prefixes):
            held = current.get(prefix)
            if held is None or held is loader:
                CheckpointLoader.register_scheme(prefix, _wrap_loader(loader),
                                                 force=True)
            elif getattr(held, '_mmkd_wraps', None) is not loader:
                foreign.append(prefix)
    return foreign


def safe_torch_load(filename: str, map_location: Any = 'cpu') -> Any:
    """``torch.load(weights_only=True)`` with the mmengine allowlist, the
    plain values of mmkd's checkpoints turned back into what was saved."""
    with checkpoint_safe_globals():
        return from_plain_values(
            torch.load(filename, map_location=map_location, weights_only=True))
