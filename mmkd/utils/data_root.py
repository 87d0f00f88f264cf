# Copyright (c) mmkd contributors. All rights reserved.
"""Where the real (non-synthetic) data sets are: one setting.

The folder holding ``mnist/`` and ``regression/`` is ``$MMKD_DATA_ROOT``,
by default ``../shared/data`` next to the repository (the folder above the
``mmkd`` package). Configs name it as ``'${MMKD_DATA_ROOT}/mnist'``; mmkd's
datasets (and the training tools' data-root check) expand that prefix with
:func:`expand_data_root`. The synthetic sets never need it.
"""
import os
import os.path as osp
from typing import Optional

DATA_ROOT_ENV = 'MMKD_DATA_ROOT'
# the only place the default is written
_DEFAULT = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), '..',
    'shared', 'data')
_PLACEHOLDERS = ('${' + DATA_ROOT_ENV + '}', '$' + DATA_ROOT_ENV)

HOW_TO_GET_DATA = (
    f'set {DATA_ROOT_ENV} to the folder holding mnist/ (the official MNIST '
    'IDX files t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) and '
    'regression/ (compactiv.csv, cpusmall.csv, mv.csv); see README, "Real '
    'data sets"')


def data_root(*parts: str) -> str:
    """``$MMKD_DATA_ROOT`` (default: ``../shared/data`` beside the
    repository), absolute, joined with ``parts``."""
    root = os.environ.get(DATA_ROOT_ENV) or _DEFAULT
    return osp.normpath(osp.join(osp.abspath(root), *parts))


def expand_data_root(path: Optional[str]) -> Optional[str]:
    """``'${MMKD_DATA_ROOT}/mnist'`` (or ``'$MMKD_DATA_ROOT/mnist'``) ->
    :func:`data_root` ``('mnist')``; any other path is returned as is."""
    if not isinstance(path, str):
        return path
    for mark in _PLACEHOLDERS:
        if path == mark or path.startswith(mark + '/'):
            rest = path[len(mark):].lstrip('/')
            return data_root(rest) if rest else data_root()
    return path
