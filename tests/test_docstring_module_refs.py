# Copyright (c) mmkd contributors. All rights reserved.
"""Every ``:mod:`mmkd...``` reference in mmkd's sources names a module that
exists (a module moved to another package leaves no stale pointer)."""
import glob
import importlib.util
import os.path as osp
import re

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..'))
MOD_REF = re.compile(r':mod:`~?(mmkd(?:\.\w+)*)`')


def test_every_module_reference_exists():
    broken = []
    for path in sorted(
            glob.glob(osp.join(REPO, 'mmkd', '**', '*.py'), recursive=True)):
        with open(path, encoding='utf-8') as f:
            text = f.read()
        for name in sorted(set(MOD_REF.findall(text))):
            if importlib.util.find_spec(name) is None:
                broken.append(f'{osp.relpath(path, REPO)}: {name}')
    assert not broken, broken
