# Copyright (c) mmkd contributors. All rights reserved.
"""Checkpoint files that are complete or absent, never half written.

mmengine writes a checkpoint in place (``open(path, 'wb')``), and with
``max_keep_ckpts`` it deletes the oldest checkpoint *before* writing the new
one: a kill or a full disk during the write can leave a truncated file and,
with ``max_keep_ckpts=1``, no complete checkpoint at all.

:class:`AtomicLocalBackend` is an mmengine file backend (registered as
``'mmkd_atomic_local'``; select it with ``backend_args=dict(backend=
'mmkd_atomic_local')``, which :class:`~mmkd.engine.hooks.
CheckpointIntegrityHook` does for the runner's checkpoint hooks):

* ``put`` writes to a hidden temporary file in the same directory
  (``.<name>.<random>.mmkd-partial``), fsyncs it, then ``os.replace``-s it
  onto the final name and fsyncs the directory. A checkpoint name therefore
  always holds a complete file; an interrupted write leaves only the
  temporary file, which the hook deletes when the next run starts.
* ``remove`` in a directory the hook protects is deferred until the hook
  releases it, after the newer checkpoint is complete and ``last_checkpoint``
  names it. The pending removals live on a :class:`DeferredRemovals` the
  hook owns (nothing is kept in module globals).

``import mmkd`` registers the backend (:mod:`mmkd.import_effects`).

:func:`checkpoint_problem` tells a complete checkpoint from a truncated or
corrupt one without unpickling it (zip directory and CRC of every entry).
"""
import contextlib
import os
import os.path as osp
import re
import tempfile
import threading
import zipfile
import zlib
from typing import Dict, Iterable, List, Optional, Tuple, Union

from mmengine.fileio import LocalBackend, register_backend

ATOMIC_BACKEND = 'mmkd_atomic_local'
PARTIAL_SUFFIX = '.mmkd-partial'
_CHUNK = 64 << 20  # bytes per os.write call
_STEP_NAME = re.compile(r'^(?:epoch|iter)_(\d+)\.pth$')


class CorruptCheckpointError(RuntimeError):
    """A checkpoint to resume or load from is truncated or corrupt."""


def _umask() -> int:
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('Umask:'):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _file_mode(path: str) -> int:
    """The mode a plain ``open(path, 'w')`` would give: the existing file's,
    else 0o666 less the umask (``mkstemp`` makes 0o600 files)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a directory
    finally:
        os.close(fd)


def atomic_write(path: Union[str, os.PathLike], data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` holds either its previous
    content or all of ``data``, whatever happens during the write."""
    path = os.fspath(path)
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{osp.basename(path)}.',
                               suffix=PARTIAL_SUFFIX, dir=directory)
    try:
        try:
            with memoryview(data) as view:
                flat = view.cast('B')
                done = 0
                while done < len(flat):
                    done += os.write(fd, flat[done:done + _CHUNK])
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, _file_mode(path))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


class DeferredRemovals:
    """Checkpoint removals held back until the newer checkpoint is complete.

    One object per :class:`~mmkd.engine.hooks.CheckpointIntegrityHook` (so
    per runner): the hook protects its checkpoint directories, hands the
    object to each checkpoint hook's :class:`AtomicLocalBackend`, and
    releases the removals once ``last_checkpoint`` names the newer file. A
    file that is written again after its removal was deferred (it has
    another inode, size or time by then) is kept.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # protected directory (absolute) -> [(path, identity when deferred)]
        self._pending: Dict[str, List[Tuple[str, tuple]]] = {}

    @staticmethod
    def _identity(path: str) -> tuple:
        try:
            st = os.stat(path)
        except OSError:
            return ()
        return st.st_ino, st.st_size, st.st_mtime_ns

    def protect(self, directory: str) -> None:
        """Defer the removals of files in ``directory`` until
        :meth:`release`."""
        with self._lock:
            self._pending.setdefault(osp.abspath(directory), [])

    def defer(self, path: str) -> bool:
        """Hold back the removal of ``path`` if its directory is protected;
        False when it is not (remove it now)."""
        path = osp.abspath(path)
        with self._lock:
            pending = self._pending.get(osp.dirname(path))
            if pending is None:
                return False
            if all(p != path for p, _ in pending):
                pending.append((path, self._identity(path)))
            return True

    def release(self, directory: Optional[str] = None,
                stop: bool = False) -> List[str]:
        """Carry out the deferred removals (in ``directory``, or everywhere);
        with ``stop``, removals there are no longer deferred. Returns the
        paths removed."""
        removed = []
        with self._lock:
            dirs = list(self._pending) if directory is None else [
                osp.abspath(directory)
            ]
            for d in dirs:
                pending = self._pending.get(d)
                if pending is None:
                    continue
                for path, identity in pending:
                    if self._identity(path) != identity:
                        continue  # written again since: keep it
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(path)
                        removed.append(path)
                pending.clear()
                if stop:
                    del self._pending[d]
        return removed


class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend with atomic ``put``/``put_text``, and
    deferred ``remove`` once given a :class:`DeferredRemovals` (see the
    module docstring)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.removals: Optional[DeferredRemovals] = None

    def defer_removals_to(self, removals: DeferredRemovals) -> None:
        """Route :meth:`remove` through ``removals``."""
        self.removals = removals

    def put(self, obj: bytes, filepath: Union[str, os.PathLike]) -> None:
        filepath = os.fspath(filepath)
        try:
            atomic_write(filepath, obj)
        except OSError as err:
            raise OSError(
                err.errno,
                f'{err.strerror} while writing {filepath}. Nothing was '
                'replaced: the earlier checkpoints and `last_checkpoint` '
                'still name complete files. Free space (or fix the '
                'directory) and continue with `--resume`.') from err

    def put_text(self, obj: str, filepath: Union[str, os.PathLike],
                 encoding: str = 'utf-8') -> None:
        self.put(obj.encode(encoding), filepath)

    def remove(self, filepath: Union[str, os.PathLike]) -> None:
        if self.removals is not None and self.removals.defer(
                os.fspath(filepath)):
            return
        super().remove(filepath)


def register_atomic_backend() -> None:
    """Register :class:`AtomicLocalBackend` with mmengine's file backends
    as ``'mmkd_atomic_local'``. Idempotent; refuses to replace a backend of
    that name that is not mmkd's."""
    from mmengine.fileio.backends import registry_utils
    owner = registry_utils.backends.get(ATOMIC_BACKEND)
    if owner is not None:
        if owner.__qualname__ == AtomicLocalBackend.__qualname__ and \
                owner.__module__ == AtomicLocalBackend.__module__:
            return
        raise KeyError(
            f'mmengine file backend {ATOMIC_BACKEND!r} is registered by '
            f'{owner.__module__}.{owner.__qualname__}, not by mmkd; mmkd '
            'does not replace it. Rename or unregister that backend.')
    register_backend(ATOMIC_BACKEND, AtomicLocalBackend)


def is_local(path: Optional[str]) -> bool:
    return path is not None and '://' not in str(path)


def checkpoint_problem(path: str) -> Optional[str]:
    """Why ``path`` is not a complete checkpoint (a phrase), or None when it
    is one. A torch zip checkpoint is checked entry by entry (its zip
    directory, which a truncated file lacks, and every entry's CRC);
    nothing is unpickled. Files in torch's legacy (pre-1.6, non-zip) format
    and directories (DeepSpeed) are not checked."""
    if not osp.exists(path):
        return 'the file does not exist'
    if osp.isdir(path):
        return None
    size = osp.getsize(path)
    if size == 0:
        return 'the file is empty (0 bytes)'
    with open(path, 'rb') as f:
        head = f.read(4)
    if head[:1] == b'\x80':  # a pickle: torch's legacy format
        return None
    if head != b'PK\x03\x04':
        return (f'it is not a torch checkpoint (a {size}-byte file starting '
                f'with {head!r})')
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            if not any(n == 'data.pkl' or n.endswith('/data.pkl')
                       for n in names):
                return ('it is a zip archive without data.pkl, not a torch '
                        'checkpoint')
            bad = zf.testzip()
    except zipfile.BadZipFile as err:
        return (f'it is truncated: the {size}-byte file starts as a torch '
                f'checkpoint but its end is missing ({err}); the write was '
                'interrupted')
    except (EOFError, OSError, ValueError, zlib.error) as err:
        return f'it is corrupt ({type(err).__name__}: {err})'
    if bad is not None:
        return f'it is corrupt: its entry {bad!r} fails its CRC check'
    return None


def checkpoints_in(directory: str) -> List[str]:
    """The ``.pth`` files of ``directory``, newest first: mmengine's
    ``epoch_N.pth`` / ``iter_N.pth`` by N, then the others by time."""
    if not osp.isdir(directory):
        return []
    numbered, others = [], []
    for name in os.listdir(directory):
        path = osp.join(directory, name)
        if not name.endswith('.pth') or name.startswith('.'):
            continue
        match = _STEP_NAME.match(name)
        if match:
            numbered.append((int(match.group(1)), osp.getmtime(path), path))
        else:
            others.append((osp.getmtime(path), path))
    return ([p for *_, p in sorted(numbered, reverse=True)] +
            [p for _, p in sorted(others, reverse=True)])


def newest_complete_checkpoint(
    directories: Iterable[str], exclude: Iterable[str] = ()) -> Optional[str]:
    """The newest complete checkpoint in ``directories`` (see
    :func:`checkpoints_in`), leaving out ``exclude``; None if there is
    none."""
    skip = {osp.realpath(p) for p in exclude if p}
    seen = set()
    for directory in directories:
        if not directory or osp.realpath(directory) in seen:
            continue
        seen.add(osp.realpath(directory))
        for path in checkpoints_in(directory):
            if osp.realpath(path) in skip:
                continue
            if checkpoint_problem(path) is None:
                return path
    return None


def remove_partial_files(directory: str) -> List[str]:
    """Delete what interrupted atomic writes left in ``directory`` (hidden
    ``*.mmkd-partial`` files); returns their paths."""
    removed = []
    if not osp.isdir(directory):
        return removed
    for name in os.listdir(directory):
        if name.startswith('.') and name.endswith(PARTIAL_SUFFIX):
            path = osp.join(directory, name)
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
                removed.append(path)
    return removed
