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
