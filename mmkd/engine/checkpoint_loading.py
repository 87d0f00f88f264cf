# Copyright (c) mmkd contributors. All rights reserved.
"""Load mmengine checkpoints with ``torch.load(weights_only=True)``.

Since torch 2.6 ``torch.load`` defaults to ``weights_only=True``, which
refuses every pickled global that is not on torch's allowlist. A checkpoint
written by an mmengine Runner (including plain mmdet/mmseg ``tools/train.py``)
pickles its message hub: ``HistoryBuffer`` objects, numpy arrays and scalars,
and ``getattr(HistoryBuffer, 'min')``-style references to the buffer's
statistics methods (protocol 2 pickles a method by ``getattr``).

We keep ``weights_only=True`` and allowlist exactly those globals, only while
mmengine's :class:`CheckpointLoader` runs. ``builtins.getattr`` is never
allowlisted: the name is bound to :func:`history_buffer_getattr`, which
resolves only the public statistics methods of ``HistoryBuffer`` and refuses
anything else. A checkpoint with any other pickled global is refused with
:class:`UnsafeCheckpointError`, nothing of it is unpickled.
"""
import contextlib
import pickle
from typing import Any, Callable, List

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


def _wrap_loader(loader: Callable) -> Callable:
    if getattr(loader, '_mmkd_safe', False):
        return loader

    def safe_loader(*args, **kwargs):
        with checkpoint_safe_globals():
            return loader(*args, **kwargs)

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
    """``torch.load(weights_only=True)`` with the mmengine allowlist."""
    with checkpoint_safe_globals():
        return torch.load(filename, map_location=map_location,
                          weights_only=True)
