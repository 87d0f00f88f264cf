# Copyright (c) mmkd contributors. All rights reserved.
import numpy as np
import pytest
import torch

from mmkd.registry import TRANSFORMS
from mmkd.structures import ClsDataSample


def make_img(h=4, w=5, c=3):
    return (np.arange(h * w * c) % 251 + 1).astype(np.uint8).reshape(h, w, c)


def zero_padded(img, p):
    """Naive padding: copy the image into the middle of a zero canvas."""
    h, w = img.shape[:2]
    out = np.zeros((h + 2 * p, w + 2 * p) + img.shape[2:], img.dtype)
    for y in range(h):
        for x in range(w):
            out[y + p, x + p] = img[y, x]
    return out


def test_random_crop_pad_content_and_offsets():
    img = make_img()
    crop = TRANSFORMS.build(
        dict(type='mmkd.RandomCropPad', size=(4, 5), padding=2))
    canvas = zero_padded(img, 2)
    seen = set()
    np.random.seed(0)
    for _ in range(300):
        out = crop(dict(img=img.copy()))
        assert out['img'].shape == (4, 5, 3)
        assert out['img_shape'] == (4, 5)
        matches = [(t, c) for t in range(5) for c in range(5)
                   if np.array_equal(out['img'], canvas[t:t + 4, c:c + 5])]
        assert len(matches) == 1
        seen.add(matches[0])
    # every one of the 5 x 5 windows of the padded image is used
    assert seen == {(t, c) for t in range(5) for c in range(5)}


def test_random_crop_pad_grey_and_identity():
    grey = make_img(6, 6, 1)[:, :, 0]
    out = TRANSFORMS.build(dict(type='mmkd.RandomCropPad', size=6))(
        dict(img=grey))
    np.testing.assert_array_equal(out['img'], grey)
    out = TRANSFORMS.build(
        dict(type='mmkd.RandomCropPad', size=3, padding=1, pad_val=9))(
            dict(img=grey))
    assert out['img'].shape == (3, 3)


def test_random_crop_pad_errors():
    with pytest.raises(ValueError, match='size must be'):
        TRANSFORMS.build(dict(type='mmkd.RandomCropPad', size=0))
    with pytest.raises(ValueError, match='padding must be'):
        TRANSFORMS.build(dict(type='mmkd.RandomCropPad', size=4, padding=-1))
    crop = TRANSFORMS.build(dict(type='mmkd.RandomCropPad', size=9, padding=2))
    with pytest.raises(ValueError, match='exceeds the padded image'):
        crop(dict(img=make_img()))


def test_random_flip():
    img = make_img()
    flipped = TRANSFORMS.build(dict(type='mmkd.RandomFlipCls', prob=1.0))(
        dict(img=img.copy()))
    assert flipped['flip'] is True
    for y in range(4):
        for x in range(5):
            np.testing.assert_array_equal(flipped['img'][y, x], img[y, 4 - x])
    kept = TRANSFORMS.build(dict(type='mmkd.RandomFlipCls', prob=0.0))(
        dict(img=img.copy()))
    assert kept['flip'] is False
    np.testing.assert_array_equal(kept['img'], img)
    half = TRANSFORMS.build(dict(type='mmkd.RandomFlipCls'))
    np.random.seed(1)
    flips = [half(dict(img=img))['flip'] for _ in range(1000)]
    assert 400 < sum(flips) < 600
    with pytest.raises(ValueError, match=r'prob must be a number in \[0, 1\]'):
        TRANSFORMS.build(dict(type='mmkd.RandomFlipCls', prob=1.5))


def test_pack_cls_inputs():
    pack = TRANSFORMS.build(dict(type='mmkd.PackClsInputs'))
    img = make_img()
    out = pack(
        dict(img=img, gt_label=7, sample_idx=3, img_shape=(4, 5),
             other='dropped'))
    inputs, sample = out['inputs'], out['data_samples']
    assert inputs.shape == (3, 4, 5) and inputs.dtype == torch.uint8
    for c in range(3):
        for y in range(4):
            for x in range(5):
                assert inputs[c, y, x].item() == img[y, x, c]
    assert isinstance(sample, ClsDataSample)
    assert sample.gt_label.dtype == torch.long
    assert sample.gt_label.tolist() == [7]
    assert sample.metainfo == dict(sample_idx=3, img_shape=(4, 5))
    grey = pack(dict(img=img[:, :, 0]))
    assert grey['inputs'].shape == (1, 4, 5)
    torch.testing.assert_close(grey['inputs'][0], torch.from_numpy(img[...,
                                                                       0]))
    assert 'gt_label' not in grey['data_samples']
    with pytest.raises(TypeError, match='H x W or H x W x C numpy array'):
        pack(dict(img=torch.zeros(3, 4, 5)))
