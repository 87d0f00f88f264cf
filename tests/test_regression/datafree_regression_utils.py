# Copyright (c) mmkd contributors. All rights reserved.
"""Helpers of the data-free regression tests: paths and a Runner config
maker for quick runs on a slice of the data."""
import copy
import os.path as osp
import uuid

from mmengine.config import Config

from mmkd.utils import data_root

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
DATA_ROOT = data_root('regression')  # $MMKD_DATA_ROOT/regression
CONFIG_DIR = osp.join(REPO, 'configs', 'datafree_regression')

# A small slice of compactiv: 1000 rows, 400 for training.
SLICE = dict(data_root=DATA_ROOT, num_train=400, max_rows=1000, split_seed=3)


def runner_cfg(config: str, work_dir: str, **dataset_overrides) -> Config:
    """Load ``configs/datafree_regression/<config>`` for a quiet test run on
    a slice of the data (absolute data root, unique experiment name)."""
    cfg = Config.fromfile(osp.join(CONFIG_DIR, config))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = cfg[loader]['dataset']
        if dataset['type'] == 'mmkd.TabularRegressionDataset':
            dataset.update(copy.deepcopy(SLICE))
            dataset.update(dataset_overrides)
    cfg.work_dir = work_dir
    cfg.experiment_name = f'test_{uuid.uuid4().hex}'
    cfg.log_level = 'WARNING'
    cfg.visualizer = dict(type='mmengine.Visualizer', vis_backends=[])
    return cfg
