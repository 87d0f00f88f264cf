# Copyright (c) mmkd contributors. All rights reserved.
import os.path as osp

import numpy as np
import pytest
import torch

from mmkd.datasets import TabularRegressionDataset
from mmkd.datasets.tabular_regression import split_indices


def raw_compactiv(data_root):
    """The CSV read independently (numpy), features and target."""
    data = np.loadtxt(
        osp.join(data_root, 'compactiv.csv'), delimiter=',', skiprows=1)
    return data[:, :-1], data[:, -1]


def build(data_root, split='train', **kw):
    kw.setdefault('ann_file', 'compactiv.csv')
    return TabularRegressionDataset(data_root=data_root, split=split, **kw)


def test_statistics_from_training_rows_only(data_root):
    x, y = raw_compactiv(data_root)
    x, y = x[:1000], y[:1000]
    train = build(data_root, 'train', num_train=300, max_rows=1000)
    test = build(data_root, 'test', num_train=300, max_rows=1000)
    rows = train.indices
    assert len(rows) == 300
    meta = test.metainfo
    np.testing.assert_allclose(meta['x_mean'], x[rows].mean(0), rtol=1e-12)
    np.testing.assert_allclose(
        meta['x_std'], np.where(x[rows].std(0) > 0, x[rows].std(0), 1.0),
        rtol=1e-12)
    assert meta['y_mean'] == pytest.approx(y[rows].mean(), rel=1e-12)
    assert meta['y_std'] == pytest.approx(y[rows].std(), rel=1e-12)
    # the statistics differ from those of all rows: they are train-only
    assert not np.allclose(meta['x_mean'], x.mean(0))
    # the test split is standardised with the training statistics
    expected = (x[test.indices] - x[rows].mean(0)) / np.asarray(meta['x_std'])
    np.testing.assert_allclose(test.x.numpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        test.y.numpy(), (y[test.indices] - y[rows].mean()) / y[rows].std(),
        rtol=1e-5, atol=1e-5)
    # a constant column (feature 'pgscan' is 0 on many slices) stays finite
    assert torch.isfinite(test.x).all()


def test_round_trip(data_root):
    ds = build(data_root, num_train=200, max_rows=500)
    x, _ = raw_compactiv(data_root)
    raw = x[:7]
    np.testing.assert_allclose(
        ds.inverse_transform_x(ds.transform_x(raw)), raw, rtol=1e-12)
    t = torch.from_numpy(raw)
    back = ds.inverse_transform_x(ds.transform_x(t))
    assert isinstance(back, torch.Tensor)
    torch.testing.assert_close(back, t)
    y = np.array([0.0, 55.5, 99.0])
    np.testing.assert_allclose(
        ds.inverse_transform_y(ds.transform_y(y)), y, atol=1e-9)
    # standardised training targets have mean 0 and std 1
    assert float(ds.y.mean()) == pytest.approx(0.0, abs=1e-5)
    assert float(ds.y.std(unbiased=False)) == pytest.approx(1.0, abs=1e-4)


def test_paper_split_sizes_and_seed(data_root):
    sizes = {s: len(build(data_root, s)) for s in ('train', 'val', 'test')}
    # 8192 rows: 5000 train, floor(10% of 3192) = 319 val, 2873 test
    assert sizes == dict(train=5000, val=319, test=2873)
    parts = split_indices(8192, 5000, 0.1, seed=0)
    every = np.concatenate([parts['train'], parts['val'], parts['test']])
    assert sorted(every.tolist()) == list(range(8192))
    again = split_indices(8192, 5000, 0.1, seed=0)
    other = split_indices(8192, 5000, 0.1, seed=1)
    assert np.array_equal(parts['val'], again['val'])
    assert not np.array_equal(parts['val'], other['val'])


def test_items_and_headers(data_root):
    ds = build(data_root, 'val', num_train=200, max_rows=400)
    item = ds[0]
    assert set(item) == {'inputs', 'data_samples'}
    assert item['inputs'].shape == (21, ) and item['data_samples'].dim() == 0
    meta = ds.metainfo
    assert meta['target_name'] == 'usr'
    assert meta['feature_names'][:2] == ['lread', 'lwrite']  # stripped
    cpu = TabularRegressionDataset('cpusmall.csv', data_root=data_root,
                                   num_train=100, max_rows=300)
    assert cpu.metainfo['in_features'] == 12
    assert cpu.metainfo['target_name'] == 'col12'  # no header: all rows data
    assert cpu.metainfo['num_rows']['train'] == 100
    by_name = build(data_root, target='lread', num_train=100, max_rows=300)
    assert 'lread' not in by_name.metainfo['feature_names']
    assert 'usr' in by_name.metainfo['feature_names']


def write(tmp_path, text, name='bad.csv'):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_non_numeric_value_names_column_and_row(tmp_path):
    path = write(tmp_path, 'a,b,y\n1,2,3\n4,oops,6\n7,8,9\n')
    with pytest.raises(
            ValueError, match=r"non-numeric value 'oops' in "
            r"column 'b' \(index 1\), data row 1 \(line 3"):
        TabularRegressionDataset(path, num_train=1)


def test_missing_value_names_column_and_row(tmp_path):
    path = write(tmp_path, 'a,b,y\n1,2,3\n4,5,6\n7,8,\n')
    with pytest.raises(
            ValueError, match=r"missing value '' in column 'y' "
            r'\(index 2\), data row 2 \(line 4'):
        TabularRegressionDataset(path, num_train=1)
    path = write(tmp_path, '1,2,3\nNA,5,6\n', name='nohead.csv')
    with pytest.raises(
            ValueError, match=r"missing value 'NA' in column "
            r"'col0' \(index 0\), data row 1 \(line 2"):
        TabularRegressionDataset(path, header=False, num_train=1)


def test_ragged_row(tmp_path):
    path = write(tmp_path, 'a,b,y\n1,2,3\n4,5\n')
    with pytest.raises(
            ValueError, match=r'data row 1 \(line 3\) has 2 '
            'fields, expected 3'):
        TabularRegressionDataset(path, num_train=1)


def test_missing_target_column(tmp_path):
    path = write(tmp_path, 'a,b,y\n' + '1,2,3\n' * 30)
    with pytest.raises(
            ValueError, match=r"target column 'price' does not "
            r"exist; the columns are \['a', 'b', 'y'\]"):
        TabularRegressionDataset(path, target='price', num_train=5)
    with pytest.raises(
            ValueError, match='target column index 3 does not '
            'exist; the file has 3 columns'):
        TabularRegressionDataset(path, target=3, num_train=5)


def test_too_few_rows_for_the_split(tmp_path, data_root):
    path = write(tmp_path, 'a,b,y\n' + '1,2,3\n' * 30)
    with pytest.raises(
            ValueError, match='the split needs more rows: 30 '
            'rows cannot give num_train=25'):
        TabularRegressionDataset(path, num_train=25)
    with pytest.raises(ValueError, match='8192 rows cannot give '
                       'num_train=9000'):
        build(data_root, num_train=9000)


def test_bad_arguments(tmp_path):
    path = write(tmp_path, 'a,b,y\n' + '1,2,3\n' * 30)
    with pytest.raises(ValueError, match="split must be one of"):
        TabularRegressionDataset(path, split='training', num_train=5)
    with pytest.raises(FileNotFoundError, match='regression CSV not found'):
        TabularRegressionDataset(str(tmp_path / 'none.csv'))
