# Copyright (c) mmkd contributors. All rights reserved.
"""Real data sets in tests: found under ``$MMKD_DATA_ROOT``, skipped (with
how to get them) where missing, never skipped under
``MMKD_REQUIRE_DATA=1``."""
import os
import os.path as osp

import pytest

from mmkd.utils.data_root import HOW_TO_GET_DATA, data_root

REQUIRE_DATA_ENV = 'MMKD_REQUIRE_DATA'
MISSING_MARK = 'real data set missing:'


def real_data(name: str) -> str:
    """The folder of real data set ``name`` (``$MMKD_DATA_ROOT/<name>``);
    skips the calling test when it is missing, or fails it under
    ``MMKD_REQUIRE_DATA=1``."""
    path = data_root(name)
    if not osp.isdir(path):
        msg = (f'{MISSING_MARK} {name!r} not found at {path}; '
               f'{HOW_TO_GET_DATA}')
        if os.environ.get(REQUIRE_DATA_ENV) == '1':
            pytest.fail(f'{msg} ({REQUIRE_DATA_ENV}=1: no skipping)',
                        pytrace=False)
        pytest.skip(msg)
    return path
