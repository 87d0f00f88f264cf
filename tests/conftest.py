# Copyright (c) mmkd contributors. All rights reserved.
"""Shared fixtures.

Real data sets (MNIST, the regression CSVs) are found through
``$MMKD_DATA_ROOT`` (:mod:`mmkd.utils.data_root`). A test that needs one is
marked ``@pytest.mark.real_data('mnist')``; where the data set is missing
it is skipped with a message saying how to get it, and the skipped tests
are listed at the end of the run. ``MMKD_REQUIRE_DATA=1`` (set by
``.ci/run``) turns those skips into failures, so CI never skips them.
"""
import os
import os.path as osp
import sys

import pytest

REPO_ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from real_data_utils import MISSING_MARK, REQUIRE_DATA_ENV, real_data  # noqa

from mmkd.utils.data_root import HOW_TO_GET_DATA, data_root  # noqa: E402

_skipped_for_data = []
_skipped_for_cuda = []
NO_CUDA_MARK = 'needs a CUDA GPU'


def pytest_configure(config):
    config.addinivalue_line(
        'markers', 'real_data(name): the test reads the real data set '
        '$MMKD_DATA_ROOT/<name>; skipped where it is missing')
    config.addinivalue_line(
        'markers', 'cuda: the test runs on a CUDA GPU; skipped (and listed '
        'at the end) without one; `make gpu-check` runs them')
    config.addinivalue_line(
        'markers', 'e2e: an end-to-end run (a whole pipeline, training '
        'scripts in subprocesses, every real-size config): `make test-e2e` '
        'runs them, `make test` the rest')


def pytest_runtest_setup(item):
    for mark in item.iter_markers(name='real_data'):
        for name in mark.args:
            real_data(name)
    if item.get_closest_marker('cuda') is not None:
        import torch
        on_cpu = os.environ.get('MMKD_CUDA_TESTS_ON_CPU') == '1'
        if not (torch.cuda.is_available() or on_cpu):
            pytest.skip(f'{NO_CUDA_MARK} (make gpu-check on a GPU machine)')


def pytest_runtest_logreport(report):
    if report.skipped and MISSING_MARK in str(report.longrepr):
        _skipped_for_data.append(report.nodeid)
    if report.skipped and NO_CUDA_MARK in str(report.longrepr):
        _skipped_for_cuda.append(report.nodeid)


def pytest_terminal_summary(terminalreporter):
    if _skipped_for_cuda:
        terminalreporter.section('tests skipped: no CUDA GPU')
        for nodeid in _skipped_for_cuda:
            terminalreporter.write_line(f'SKIPPED {nodeid}')
        terminalreporter.write_line(
            f'{len(_skipped_for_cuda)} tests run on a CUDA GPU only; '
            '`make gpu-check` runs them on a GPU machine.')
    if not _skipped_for_data:
        return
    terminalreporter.section('tests skipped: real data sets missing')
    for nodeid in _skipped_for_data:
        terminalreporter.write_line(f'SKIPPED {nodeid}')
    terminalreporter.write_line(
        f'{len(_skipped_for_data)} tests need the real data sets under '
        f'{data_root()}: {HOW_TO_GET_DATA}. ({REQUIRE_DATA_ENV}=1 makes '
        'these skips failures; .ci/run sets it.)')


@pytest.fixture(scope='session')
def repo_root():
    return REPO_ROOT


@pytest.fixture(scope='session')
def retina_teacher_ckpt(tmp_path_factory):
    """The toy RetinaNet teacher (R18-w64), freshly built (untrained) and
    saved as a checkpoint."""
    from dense_utils import save_untrained
    return save_untrained('configs/toy/retinanet_r18-w64_shapes-coco.py',
                          tmp_path_factory.mktemp('teacher') / 'teacher.pth')


@pytest.fixture(scope='session')
def coco_shapes_root(tmp_path_factory):
    """A tiny synthetic COCO-format detection set (64x64 images)."""
    from mmkd.datasets.synthetic import make_coco_shapes
    root = tmp_path_factory.mktemp('coco_shapes')
    make_coco_shapes(root, num_train=8, num_val=4, img_size=(64, 64), seed=0)
    return str(root) + '/'


@pytest.fixture(scope='session')
def cityscapes_shapes_root(tmp_path_factory):
    """A tiny synthetic Cityscapes-layout segmentation set (64x128)."""
    from mmkd.datasets.synthetic import make_cityscapes_shapes
    root = tmp_path_factory.mktemp('cityscapes_shapes')
    make_cityscapes_shapes(root, num_train=4, num_val=2, img_size=(64, 128),
                           seed=0)
    return str(root) + '/'
