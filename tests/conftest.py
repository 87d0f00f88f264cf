# Copyright (c) mmkd contributors. All rights reserved.
import os.path as osp
import sys

import pytest

REPO_ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))
SHARED_DATA = osp.abspath(osp.join(REPO_ROOT, '..', 'shared', 'data'))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)


@pytest.fixture(scope='session')
def repo_root():
    return REPO_ROOT


@pytest.fixture(scope='session')
def shared_data():
    if not osp.isdir(SHARED_DATA):
        pytest.fail(f'the shared data folder {SHARED_DATA} is missing')
    return SHARED_DATA
