# Copyright (c) mmkd contributors. All rights reserved.
"""Everything ``import mmkd`` changes outside mmkd, in one place.

:data:`IMPORT_EFFECTS` lists each effect with what it changes and why;
``mmkd/__init__.py`` runs :func:`apply_import_effects` and nothing else
changes global state at import. Each effect is idempotent (importing or
reloading mmkd twice changes nothing more) and replaces nothing another
package registered: a name someone else owns is left alone (with a
warning) or refused with an error naming the owner.
``docs/user_guides/import_effects.md`` is the same table for users (a test
checks they agree).

What mmkd's hooks change while a run is going (not at import) is listed in
:data:`RUN_TIME_EFFECTS`.
"""
import os
import warnings
from typing import Callable, NamedTuple, Tuple


class ImportEffect(NamedTuple):
    """One change ``import mmkd`` makes outside mmkd."""
    name: str
    changes: str  # what, in mmengine (or the process), is changed
    why: str
    apply: Callable[[], None]


def _check_versions() -> None:
    if os.environ.get('MMKD_SKIP_VERSION_CHECK', '0') != '1':
        from mmkd.utils.version_check import check_versions
        check_versions()


def _safe_checkpoint_loading() -> None:
    from mmkd.engine.checkpoint_loading import install_safe_checkpoint_loading
    foreign = install_safe_checkpoint_loading()
    if foreign:
        warnings.warn(
            'mmkd left the checkpoint loaders of these prefixes alone, as '
            f'another package registered them: {foreign}. Checkpoints they '
            'load are read without mmkd\'s weights_only allowlist.',
            stacklevel=3)


def _atomic_backend() -> None:
    from mmkd.engine.checkpoint_files import register_atomic_backend
    register_atomic_backend()


def _config_package() -> None:
    from mmkd.utils.config import register_config_package
    register_config_package()


IMPORT_EFFECTS: Tuple[ImportEffect, ...] = (
    ImportEffect(
        'version check',
        'nothing; raises IncompatibleVersionError for a refused mmengine/'
        'mmcv/mmdet/mmseg version, warns (UntestedVersionWarning) for an '
        'untested one; MMKD_SKIP_VERSION_CHECK=1 skips it',
        'a refused version fails later with an error far from its cause',
        _check_versions),
    ImportEffect(
        'safe checkpoint loading',
        "mmengine's CheckpointLoader: each of mmengine's own scheme loaders "
        "(local, http(s), open-mmlab://, ...) is re-registered wrapped so "
        'that torch.load(weights_only=True) accepts the globals of an '
        "mmengine checkpoint (HistoryBuffer, numpy) and nothing else, and "
        'the plain stand-ins of the checkpoints mmkd writes come back as '
        'saved; a prefix another package registered is left alone',
        'torch>=2.6 loads with weights_only=True and refuses every '
        'mmengine checkpoint otherwise; mmkd never unpickles arbitrary code',
        _safe_checkpoint_loading),
    ImportEffect(
        'atomic checkpoint backend',
        "mmengine's file backends: 'mmkd_atomic_local' added "
        '(AtomicLocalBackend); refused if another package owns the name',
        'CheckpointIntegrityHook writes checkpoints through it: complete '
        'or absent, never truncated', _atomic_backend),
    ImportEffect(
        'mmkd:: config names',
        "mmengine.config.utils.MODULE2PACKAGE: 'mmkd' added (setdefault)",
        "`_base_ = ['mmkd::akd/...']` and mmengine's import of "
        'mmkd.utils.register_all_modules for the mmkd scope', _config_package),
)

# what mmkd's hooks change during a run (documented beside the table above)
RUN_TIME_EFFECTS: Tuple[Tuple[str, str], ...] = (
    ('CheckpointIntegrityHook',
     "sets backend_args=dict(backend='mmkd_atomic_local') on the runner's "
     'CheckpointHooks that write locally with the default backend, and '
     'holds back their checkpoint removals until the newer file is '
     'complete'),
    ('RandomStateHook',
     "wraps the train dataset's pipeline so that each sample's random "
     'state follows from the seed, epoch and index (exact resume at an '
     'epoch boundary); the wrapper forwards every attribute'),
)


def apply_import_effects() -> None:
    """Apply every effect of :data:`IMPORT_EFFECTS`, in order."""
    for effect in IMPORT_EFFECTS:
        effect.apply()
