# Copyright (c) mmkd contributors. All rights reserved.
"""What ``import mmkd`` changes outside mmkd: one table, each effect
idempotent, nothing taken from another owner, the user's table in docs/
the same as the code's."""
import os.path as osp

import pytest
from mmengine.fileio.backends import registry_utils
from mmengine.runner.checkpoint import CheckpointLoader

import mmkd
from mmkd.engine.checkpoint_files import (ATOMIC_BACKEND, AtomicLocalBackend,
                                          register_atomic_backend)
from mmkd.engine.checkpoint_loading import install_safe_checkpoint_loading
from mmkd.import_effects import (IMPORT_EFFECTS, RUN_TIME_EFFECTS,
                                 apply_import_effects)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DOC = osp.join(REPO, 'docs', 'user_guides', 'import_effects.md')


def test_effects_are_applied_on_import_and_idempotent():
    assert registry_utils.backends[ATOMIC_BACKEND] is AtomicLocalBackend
    schemes = dict(CheckpointLoader._schemes)
    assert all(
        getattr(loader, '_mmkd_safe', False) for loader in schemes.values())
    apply_import_effects()
    apply_import_effects()
    assert dict(CheckpointLoader._schemes) == schemes  # same loaders
    assert registry_utils.backends[ATOMIC_BACKEND] is AtomicLocalBackend
    from mmengine.config.utils import MODULE2PACKAGE
    assert MODULE2PACKAGE['mmkd'] == 'mmkd'


def test_a_backend_name_owned_by_another_package_is_refused(monkeypatch):

    class TheirBackend(AtomicLocalBackend):
        pass

    monkeypatch.setitem(registry_utils.backends, ATOMIC_BACKEND, TheirBackend)
    with pytest.raises(KeyError, match='TheirBackend, not by mmkd'):
        register_atomic_backend()
    assert registry_utils.backends[ATOMIC_BACKEND] is TheirBackend


def test_a_checkpoint_loader_owned_by_another_package_stays(monkeypatch):

    def their_loader(filename, map_location=None, logger=None):
        return {}

    schemes = dict(CheckpointLoader._schemes)
    schemes['pavi://'] = their_loader
    monkeypatch.setattr(CheckpointLoader, '_schemes', schemes)
    assert install_safe_checkpoint_loading() == ['pavi://']
    assert CheckpointLoader._schemes['pavi://'] is their_loader
    with pytest.warns(
            UserWarning, match=r"another package registered "
            r"them: \['pavi://'\]"):
        apply_import_effects()


def test_the_docs_table_lists_every_effect():
    with open(DOC, encoding='utf-8') as f:
        doc = f.read()
    rows = [line for line in doc.splitlines() if line.startswith('| ')]
    for effect in IMPORT_EFFECTS:
        assert any(f'| {effect.name} |' in row for row in rows), effect.name
    for hook, _ in RUN_TIME_EFFECTS:
        assert any(f'| {hook} |' in row for row in rows), hook
    assert mmkd.__doc__ and 'import_effects' in mmkd.__doc__
