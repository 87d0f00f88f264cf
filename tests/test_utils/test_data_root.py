# Copyright (c) mmkd contributors. All rights reserved.
"""The one setting that locates the real data sets: $MMKD_DATA_ROOT."""
import os.path as osp

import pytest
from mmengine.config import Config

from mmkd.apis import check_data_roots
from mmkd.datasets import MNIST
from mmkd.utils import DATA_ROOT_ENV, data_root, expand_data_root

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))


def test_default_is_beside_the_repository(monkeypatch):
    monkeypatch.delenv(DATA_ROOT_ENV, raising=False)
    # the documented default, ../shared/data relative to the repository
    assert osp.relpath(data_root(), REPO) == osp.join('..', 'shared', 'data')
    assert data_root('mnist') == osp.join(data_root(), 'mnist')


def test_environment_variable_wins(monkeypatch, tmp_path):
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path))
    assert data_root('regression') == str(tmp_path / 'regression')
    for form in ('${MMKD_DATA_ROOT}/regression', '$MMKD_DATA_ROOT/regression'):
        assert expand_data_root(form) == str(tmp_path / 'regression')
    assert expand_data_root('${MMKD_DATA_ROOT}') == str(tmp_path)
    # anything else is left alone
    for other in ('data/coco/', '/abs/x', '${MMKD_DATA_ROOTX}/a', None):
        assert expand_data_root(other) == other


def test_configs_name_the_setting_not_a_path():
    for rel in ('configs/cls/mnist/kd_convnet-l_convnet-s_mnist.py',
                'configs/datafree_regression/direct-a1_mlp25_mv.py'):
        cfg = Config.fromfile(osp.join(REPO, rel))
        root = cfg.train_dataloader.dataset.get('data_root') or \
            cfg.val_dataloader.dataset.data_root
        assert root.startswith('${MMKD_DATA_ROOT}/'), rel


def test_missing_data_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path / 'nowhere'))
    with pytest.raises(FileNotFoundError, match=DATA_ROOT_ENV):
        MNIST('${MMKD_DATA_ROOT}/mnist')
    cfg = Config(
        dict(
            train_dataloader=dict(
                dataset=dict(type='mmkd.MNIST',
                             data_root='${MMKD_DATA_ROOT}/mnist'))))
    with pytest.raises(FileNotFoundError) as err:
        check_data_roots(cfg, ('train_dataloader', ))
    assert str(tmp_path / 'nowhere' / 'mnist') in str(err.value)
    assert DATA_ROOT_ENV in str(err.value)
