# Copyright (c) mmkd contributors. All rights reserved.
"""Fixtures of the data-free regression tests: the data folder and a small
teacher trained once through the Runner."""
import os.path as osp

import pytest
import torch
from datafree_regression_utils import runner_cfg
from real_data_utils import real_data


@pytest.fixture(scope='session')
def data_root():
    """$MMKD_DATA_ROOT/regression (skipped where missing)."""
    return real_data('regression')


@pytest.fixture(scope='session')
def compactiv_teacher(tmp_path_factory, data_root):
    """A compactiv teacher (hidden 500) trained for 3 epochs on the slice
    through the supervised teacher config; returns its best checkpoint."""
    from mmengine.runner import Runner
    torch.set_num_threads(1)
    work_dir = str(tmp_path_factory.mktemp('teacher'))
    cfg = runner_cfg('teacher_mlp500_compactiv.py', work_dir)
    cfg.train_cfg.max_epochs = 3
    runner = Runner.from_cfg(cfg)
    runner.train()
    ckpt = osp.join(work_dir, 'best_teacher.pth')
    assert osp.isfile(ckpt)
    return ckpt
