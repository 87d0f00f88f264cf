# Copyright (c) mmkd contributors. All rights reserved.
"""mmkd.ImageFolder, mmkd.RandomResizedCropCls and the ImageNet pipelines
of configs/cls/_base_/datasets/imagenet.py on a tiny folder of PNGs."""
import os.path as osp

import mmcv
import numpy as np
import pytest
import torch
from mmengine.dataset import Compose
from mmengine.registry import DefaultScope

from mmkd.datasets import ImageFolder
from mmkd.datasets.transforms import RandomResizedCropCls
from mmkd.utils import load_config

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
IMAGENET_BASE = osp.join(REPO, 'configs', 'cls', '_base_', 'datasets',
                         'imagenet.py')


def _img(h, w, seed):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3),
                                                dtype=np.uint8)


@pytest.fixture
def folder(tmp_path):
    """train/{cat,dog,emu}: 2 cats (one in a sub-folder), 1 dog, no emu;
    a text file that is not an image."""
    root = tmp_path / 'imgs'
    mmcv.imwrite(_img(20, 30, 0), str(root / 'train' / 'dog' / 'd0.png'))
    mmcv.imwrite(_img(20, 30, 1), str(root / 'train' / 'cat' / 'c1.png'))
    mmcv.imwrite(
        _img(20, 30, 2), str(root / 'train' / 'cat' / 'sub' / 'c0.PNG'))
    (root / 'train' / 'emu').mkdir()
    (root / 'train' / 'cat' / 'notes.txt').write_text('not an image')
    return str(root)


def test_image_folder_lists_classes_and_images(folder):
    ds = ImageFolder(data_root=folder, data_prefix=dict(img_path='train'))
    assert ds.metainfo['classes'] == ('cat', 'dog', 'emu')
    items = [(osp.relpath(ds[i]['img_path'], folder), ds[i]['gt_label'])
             for i in range(len(ds))]
    assert items == [(osp.join('train', 'cat', 'c1.png'), 0),
                     (osp.join('train', 'cat', 'sub', 'c0.PNG'), 0),
                     (osp.join('train', 'dog', 'd0.png'), 1)]


def test_image_folder_given_classes_set_the_labels(folder):
    ds = ImageFolder(data_root=folder, data_prefix=dict(img_path='train'),
                     metainfo=dict(classes=('emu', 'dog', 'cat')))
    assert [ds[i]['gt_label'] for i in range(len(ds))] == [1, 2, 2]


def test_image_folder_extensions(folder):
    ds = ImageFolder(data_root=folder, data_prefix=dict(img_path='train'),
                     extensions=('.txt', ))
    assert len(ds) == 1 and ds[0]['img_path'].endswith('notes.txt')


def test_image_folder_errors(folder, tmp_path):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        ImageFolder(data_root=folder, data_prefix=dict(img_path='val'))
    with pytest.raises(ValueError, match=r"no folder for \['fox'\]"):
        ImageFolder(data_root=folder, data_prefix=dict(img_path='train'),
                    metainfo=dict(classes=('cat', 'dog', 'emu', 'fox')))
    with pytest.raises(ValueError, match=r"folders not in classes \['emu'\]"):
        ImageFolder(data_root=folder, data_prefix=dict(img_path='train'),
                    metainfo=dict(classes=('cat', 'dog')))
    with pytest.raises(ValueError, match='no image with extension'):
        ImageFolder(data_root=folder, data_prefix=dict(img_path='train'),
                    extensions=('.jpg', ))
    (tmp_path / 'empty').mkdir()
    with pytest.raises(ValueError, match='no class sub-folder'):
        ImageFolder(data_root=str(tmp_path / 'empty'))
    with pytest.raises(ValueError, match='extensions'):
        ImageFolder(data_root=folder, extensions='.png')


def test_random_resized_crop_windows_respect_scale_and_ratio():
    crop = RandomResizedCropCls(8, scale=(0.2, 0.6), ratio=(0.5, 2.0))
    np.random.seed(0)
    for _ in range(200):
        top, left, h, w = crop.crop_box(60, 90)
        assert 0 <= top and top + h <= 60 and 0 <= left and left + w <= 90
        # rounding of w and h moves area and ratio a little
        assert 0.2 * 0.9 <= h * w / (60 * 90) <= 0.6 * 1.1
        assert 0.5 * 0.9 <= w / h <= 2.0 * 1.1


def test_random_resized_crop_fallback_is_centred_with_clamped_ratio():
    # aspect >= 2 at the full area never fits a square 10 x 10 image
    crop = RandomResizedCropCls(4, scale=(1.0, 1.0), ratio=(2.0, 3.0))
    assert crop.crop_box(10, 10) == (2, 0, 5, 10)
    # 10 x 40 (ratio 4): a full-area window of ratio 2..3 is over 10 high;
    # the fallback clamps the ratio to 3: a centred 10 x 30 window
    assert crop.crop_box(10, 40) == (0, 5, 10, 30)


def test_random_resized_crop_whole_image_equals_resize():
    img = _img(12, 12, 3)
    crop = RandomResizedCropCls((6, 8), scale=(1.0, 1.0), ratio=(1.0, 1.0))
    out = crop.transform(dict(img=img.copy()))
    assert out['img'].shape == (6, 8, 3) and out['img_shape'] == (6, 8)
    np.testing.assert_array_equal(
        out['img'], mmcv.imresize(img, (8, 6), interpolation='bilinear'))


@pytest.mark.parametrize('kwargs, match', [
    (dict(size=0), 'size'),
    (dict(size=4, scale=(0.0, 1.0)), 'scale'),
    (dict(size=4, scale=(0.5, 1.5)), 'scale'),
    (dict(size=4, scale=(0.8, 0.5)), 'scale'),
    (dict(size=4, ratio=(2.0, 1.0)), 'ratio'),
    (dict(size=4, ratio=0.5), 'ratio'),
    (dict(size=4, max_attempts=0), 'max_attempts'),
])
def test_random_resized_crop_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RandomResizedCropCls(**kwargs)


def test_imagenet_config_pipelines(tmp_path):
    """The ImageNet base config's pipelines on real image files: training
    gives 224 x 224 crops; validation resizes the short side to 256 and
    takes the centre 224 x 224."""
    cfg = load_config(IMAGENET_BASE)
    img = _img(200, 300, 4)
    path = str(tmp_path / 'val' / 'cls0' / 'a.png')
    mmcv.imwrite(img, path)
    with DefaultScope.overwrite_default_scope('mmkd'):
        train = Compose(cfg.train_pipeline)
        test = Compose(cfg.test_pipeline)
        ds = ImageFolder(
            data_root=str(tmp_path), data_prefix=dict(img_path='val'),
            pipeline=cfg.test_pipeline)
    packed = train(dict(img_path=path, gt_label=0))
    assert packed['inputs'].shape == (3, 224, 224)
    packed = test(dict(img_path=path, gt_label=0))
    resized = mmcv.imresize(img, (384, 256), interpolation='bilinear')
    expected = resized[16:240, 80:304].transpose(2, 0, 1)
    assert torch.equal(packed['inputs'], torch.from_numpy(expected.copy()))
    assert packed['data_samples'].gt_label.item() == 0
    assert torch.equal(ds[0]['inputs'], packed['inputs'])
