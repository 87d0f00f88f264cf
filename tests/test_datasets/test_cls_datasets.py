# Copyright (c) mmkd contributors. All rights reserved.
import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.dataset import default_collate, pseudo_collate
from mmengine.model import ImgDataPreprocessor
from torch.utils.data import DataLoader

from mmkd.datasets import CIFAR100, MNIST
from mmkd.registry import DATASETS
from mmkd.structures import ClsDataSample
from mmkd.utils import data_root

MNIST_ROOT = Path(data_root('mnist'))  # $MMKD_DATA_ROOT/mnist


def decode_mnist_directly():
    """Independent decode of the official files (header via struct)."""
    with gzip.open(MNIST_ROOT / 't10k-images-idx3-ubyte.gz', 'rb') as f:
        raw_imgs = f.read()
    with gzip.open(MNIST_ROOT / 't10k-labels-idx1-ubyte.gz', 'rb') as f:
        raw_labels = f.read()
    magic, num, rows, cols = struct.unpack('>IIII', raw_imgs[:16])
    assert (magic, num, rows, cols) == (2051, 10000, 28, 28)
    magic_l, num_l = struct.unpack('>II', raw_labels[:8])
    assert (magic_l, num_l) == (2049, 10000)
    imgs = np.frombuffer(raw_imgs[16:], np.uint8).reshape(num, rows, cols)
    labels = np.frombuffer(raw_labels[8:], np.uint8)
    return imgs, labels


@pytest.fixture(scope='module')
def mnist_direct():
    return decode_mnist_directly()


def write_idx(path, magic, array):
    header = struct.pack('>I', magic) + struct.pack(f'>{array.ndim}I', *
                                                    array.shape)
    opener = gzip.open if str(path).endswith('.gz') else open
    with opener(path, 'wb') as f:
        f.write(header + array.astype(np.uint8).tobytes())


# ---------------------------------------------------------------- MNIST
@pytest.mark.real_data('mnist')
def test_mnist_real_data_matches_direct_decode(mnist_direct):
    imgs, labels = mnist_direct
    ds = DATASETS.build(dict(type='mmkd.MNIST', data_root=str(MNIST_ROOT)))
    assert len(ds) == 10000
    assert ds.metainfo['classes'] == tuple(str(i) for i in range(10))
    first = ds.get_data_info(0)
    # first byte of the label file after its 8-byte header
    assert first['gt_label'] == labels[0] == 7
    assert first['img'].shape == (28, 28, 1)
    assert first['img'].dtype == np.uint8
    np.testing.assert_array_equal(first['img'][:, :, 0], imgs[0])
    last = ds.get_data_info(9999)
    np.testing.assert_array_equal(last['img'][:, :, 0], imgs[9999])
    assert last['gt_label'] == labels[9999]
    assert set(np.unique(labels)) == set(range(10))


@pytest.mark.real_data('mnist')
def test_mnist_seeded_split(mnist_direct):
    imgs, labels = mnist_direct
    train = MNIST(str(MNIST_ROOT), split='train')
    val = MNIST(str(MNIST_ROOT), split='val', num_val=2000, split_seed=0)
    assert (len(train), len(val)) == (8000, 2000)
    train_idx, val_idx = train.split_indices(10000), val.split_indices(10000)
    assert len(np.intersect1d(train_idx, val_idx)) == 0
    np.testing.assert_array_equal(
        np.sort(np.concatenate([train_idx, val_idx])), np.arange(10000))
    # the split is random, not the first/last 2000
    assert val_idx.min() < 500 and val_idx.max() > 9500
    # contents are the images at those indices
    for i in (0, 1, 1234, 1999):
        info = val.get_data_info(i)
        np.testing.assert_array_equal(info['img'][:, :, 0], imgs[val_idx[i]])
        assert info['gt_label'] == labels[val_idx[i]]
    assert train.get_data_info(7999)['gt_label'] == labels[train_idx[-1]]
    val_labels = [val.get_data_info(i)['gt_label'] for i in range(len(val))]
    assert set(val_labels) == set(range(10))
    # deterministic for a seed, different for another seed
    again = MNIST(str(MNIST_ROOT), split='val', split_seed=0, lazy_init=True)
    np.testing.assert_array_equal(again.split_indices(10000), val_idx)
    other = MNIST(str(MNIST_ROOT), split='val', split_seed=1, lazy_init=True)
    assert not np.array_equal(other.split_indices(10000), val_idx)


def test_mnist_plain_idx_and_train_names(tmp_path):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5], np.uint8)
    write_idx(tmp_path / 'train-images-idx3-ubyte', 0x803, imgs)
    write_idx(tmp_path / 'train-labels-idx1-ubyte', 0x801, labels)
    ds = MNIST(str(tmp_path), source='train')
    assert len(ds) == 5
    for i in range(5):
        info = ds.get_data_info(i)
        np.testing.assert_array_equal(info['img'][:, :, 0], imgs[i])
        assert info['gt_label'] == labels[i]
    val = MNIST(str(tmp_path), source='train', split='val', num_val=2)
    assert len(val) == 2
    with pytest.raises(ValueError, match='num_val=5 leaves no training'):
        MNIST(str(tmp_path), source='train', split='train', num_val=5)


def test_mnist_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        MNIST(str(tmp_path / 'nowhere'))
    msg = str(err.value)
    assert 't10k-images-idx3-ubyte' in msg and 't10k-labels-idx1-ubyte' in msg
    assert 'nowhere' in msg
    with pytest.raises(FileNotFoundError, match='train-images-idx3-ubyte'):
        MNIST(str(MNIST_ROOT), source='train')


def test_mnist_bad_files(tmp_path):
    labels = np.zeros(2, np.uint8)
    # images file with the labels magic number
    write_idx(tmp_path / 't10k-images-idx3-ubyte.gz', 0x801, labels)
    write_idx(tmp_path / 't10k-labels-idx1-ubyte.gz', 0x801, labels)
    with pytest.raises(ValueError, match='magic number 0x00000801, expected '
                       '0x00000803'):
        MNIST(str(tmp_path))
    # right magic, truncated payload
    (tmp_path / 't10k-images-idx3-ubyte.gz').unlink()
    with open(tmp_path / 't10k-images-idx3-ubyte', 'wb') as f:
        f.write(struct.pack('>IIII', 0x803, 2, 28, 28) + bytes(100))
    with pytest.raises(ValueError, match='truncated'):
        MNIST(str(tmp_path))
    # not gzip despite the name
    (tmp_path / 't10k-images-idx3-ubyte').unlink()
    (tmp_path / 't10k-images-idx3-ubyte.gz').write_bytes(b'not gzip')
    with pytest.raises(ValueError, match='cannot read the IDX file'):
        MNIST(str(tmp_path))
    # images and labels disagree in number
    write_idx(tmp_path / 't10k-images-idx3-ubyte.gz', 0x803,
              np.zeros((3, 28, 28), np.uint8))
    with pytest.raises(ValueError, match='3 images but'):
        MNIST(str(tmp_path))


@pytest.mark.parametrize('kwargs, match', [
    (dict(split='test'), 'split must be one of'),
    (dict(source='t60k'), 'source must be one of'),
    (dict(split='val', num_val=0), 'num_val must be a positive int'),
])
def test_mnist_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MNIST(str(MNIST_ROOT), **kwargs)


# ------------------------------------------------------------- CIFAR100
def write_cifar100(root, num_train=5, num_test=3, labels=None):
    """The real format: python-2 style pickles with bytes keys."""
    folder = root / 'cifar-100-python'
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (('train', num_train), ('test', num_test)):
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        fine = list(labels if labels is not None else rng.integers(0, 100, n))
        content = {
            b'filenames': [f'img{i}.png'.encode() for i in range(n)],
            b'data': data,
            b'fine_labels': [int(x) for x in fine],
            b'coarse_labels': [0] * n,
        }
        with open(folder / split, 'wb') as f:
            pickle.dump(content, f)
        arrays[split] = (data, fine)
    meta = {
        b'fine_label_names': [f'class_{i}'.encode() for i in range(100)],
        b'coarse_label_names': [f'super_{i}'.encode() for i in range(20)],
    }
    with open(folder / 'meta', 'wb') as f:
        pickle.dump(meta, f)
    return arrays


def test_cifar100_synthetic(tmp_path):
    arrays = write_cifar100(tmp_path)
    train = DATASETS.build(
        dict(type='mmkd.CIFAR100', data_root=str(tmp_path), split='train'))
    assert len(train) == 5
    assert train.metainfo['classes'] == tuple(f'class_{i}' for i in range(100))
    data, fine = arrays['train']
    for i in range(5):
        info = train.get_data_info(i)
        img = info['img']
        assert img.shape == (32, 32, 3) and img.dtype == np.uint8
        assert info['gt_label'] == fine[i]
        # row layout: 1024 red, 1024 green, 1024 blue, each row-major
        for y, x in ((0, 0), (0, 31), (5, 7), (31, 0), (31, 31)):
            for c in range(3):
                assert img[y, x, c] == data[i, c * 1024 + y * 32 + x]
    # data_root may also be the extracted folder itself
    test = CIFAR100(str(tmp_path / 'cifar-100-python'), split='test')
    data, fine = arrays['test']
    assert len(test) == 3
    assert [test.get_data_info(i)['gt_label'] for i in range(3)] == fine
    assert test.get_data_info(2)['img'][1, 2, 0] == data[2, 1 * 32 + 2]


def test_cifar100_errors(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        CIFAR100(str(tmp_path))
    msg = str(err.value)
    assert 'cifar-100-python.tar.gz' in msg and 'tar -xzf' in msg
    assert str(tmp_path) in msg
    (tmp_path / 'cifar-100-python.tar.gz').write_bytes(b'')
    with pytest.raises(FileNotFoundError, match='not extracted'):
        CIFAR100(str(tmp_path))
    with pytest.raises(ValueError, match='split must be one of'):
        CIFAR100(str(tmp_path), split='val')


def test_cifar100_label_out_of_range(tmp_path):
    write_cifar100(tmp_path, num_train=2, labels=[3, 100])
    with pytest.raises(ValueError, match=r'labels must lie in \[0, 100\)'):
        CIFAR100(str(tmp_path))


# ----------------------------------------------------- end to end loading
@pytest.mark.real_data('mnist')
def test_mnist_dataloader_feeds_data_preprocessor():
    pipeline = [
        dict(type='mmkd.RandomCropPad', size=28, padding=2),
        dict(type='mmkd.RandomFlipCls', prob=0.5),
        dict(type='mmkd.PackClsInputs'),
    ]
    ds = MNIST(str(MNIST_ROOT), split='val', pipeline=pipeline)
    plain = MNIST(str(MNIST_ROOT), split='val')
    preprocessor = ImgDataPreprocessor(mean=[33.3], std=[78.6])
    for collate in (pseudo_collate, default_collate):
        loader = DataLoader(ds, batch_size=4, collate_fn=collate)
        batch = next(iter(loader))
        assert set(batch) == {'inputs', 'data_samples'}
        samples = batch['data_samples']
        assert len(samples) == 4
        assert all(isinstance(s, ClsDataSample) for s in samples)
        for i, s in enumerate(samples):
            assert s.gt_label.tolist() == [plain.get_data_info(i)['gt_label']]
            assert s.sample_idx == i
        if collate is pseudo_collate:
            assert isinstance(batch['inputs'], list)
            assert [x.shape for x in batch['inputs']] == [(1, 28, 28)] * 4
            stacked = torch.stack(batch['inputs'])
        else:
            stacked = batch['inputs']
            assert stacked.shape == (4, 1, 28, 28)
        assert stacked.dtype == torch.uint8
        out = preprocessor(batch, training=True)
        assert out['inputs'].shape == (4, 1, 28, 28)
        torch.testing.assert_close(out['inputs'],
                                   (stacked.float() - 33.3) / 78.6)
        assert [s.gt_label.tolist() for s in out['data_samples']] == \
            [s.gt_label.tolist() for s in samples]
