# Copyright (c) mmkd contributors. All rights reserved.
"""Tests of the synthetic shapes sets: determinism, annotation consistency,
loading through mmdet's CocoDataset / mmseg's CityscapesDataset and the
real CocoMetric / IoUMetric."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope
from PIL import Image, ImageDraw

from mmkd.datasets.synthetic import (CITYSCAPES_CLASSES,
                                     CITYSCAPES_SHAPE_TRAIN_IDS,
                                     CITYSCAPES_SHAPES_TRAIN_IDS,
                                     COCO_SHAPES_CLASSES, SHAPE_CLASSES,
                                     coco_shapes_classes,
                                     make_cityscapes_shapes, make_coco_shapes)

REPO_ROOT = Path(__file__).resolve().parents[2]
COCO_KW = dict(num_train=4, num_val=6, img_size=(64, 64), seed=0)
CS_KW = dict(num_train=3, num_val=4, img_size=(64, 128), seed=0)
# hue (degrees) each shape is painted with, as documented in shapes.py
EXPECTED_HUE = {'circle': 0, 'square': 120, 'triangle': 225, 'star': 55}


@pytest.fixture(scope='module')
def coco_set(tmp_path_factory):
    return make_coco_shapes(tmp_path_factory.mktemp('coco') / 'set', **COCO_KW)


@pytest.fixture(scope='module')
def cs_set(tmp_path_factory):
    return make_cityscapes_shapes(
        tmp_path_factory.mktemp('cs') / 'set', **CS_KW)


def _tree_bytes(root):
    root = Path(root)
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob('*')) if p.is_file()
    }


def _median_hue(pixels):
    """Circular median-ish hue (degrees) of (N, 3) uint8 RGB pixels."""
    hsv = np.asarray(
        Image.fromarray(pixels[None].astype(np.uint8)).convert('HSV'))[0]
    ang = hsv[:, 0].astype(np.float64) / 256. * 2 * np.pi
    return np.degrees(np.arctan2(np.sin(ang).mean(), np.cos(ang).mean())) % 360


def _hue_dist(a, b):
    d = abs(a - b) % 360
    return min(d, 360 - d)


def _load_coco(info, split):
    with open(Path(info['data_root']) / info[split]['ann_file']) as f:
        return json.load(f)


def _rasterise(poly, h, w):
    img = Image.new('L', (w, h), 0)
    pts = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
    ImageDraw.Draw(img).polygon([tuple(p) for p in pts], fill=1)
    return np.asarray(img, dtype=bool)


# ---------------------------------------------------------------- generators
@pytest.mark.parametrize('maker,kw', [(make_coco_shapes, COCO_KW),
                                      (make_cityscapes_shapes, CS_KW)])
def test_same_seed_same_bytes_other_seed_differs(tmp_path, maker, kw):
    maker(tmp_path / 'a', **kw)
    maker(tmp_path / 'b', **kw)
    maker(tmp_path / 'c', **dict(kw, seed=1))
    a, b, c = (_tree_bytes(tmp_path / n) for n in 'abc')
    assert len(a) > 5
    assert a == b
    pngs = [k for k in a if k.endswith('.png')]
    assert set(c) == set(a)  # same names ...
    assert all(a[k] != c[k] for k in pngs)  # ... other pictures


def test_coco_annotations_consistent(coco_set):
    assert coco_set['classes'] == COCO_SHAPES_CLASSES == ('circle', 'square',
                                                          'triangle', 'star')
    root = Path(coco_set['data_root'])
    for split in ('train', 'val'):
        coco = _load_coco(coco_set, split)
        assert [c['name']
                for c in coco['categories']] == list(COCO_SHAPES_CLASSES)
        assert [c['id'] for c in coco['categories']] == [1, 2, 3, 4]
        assert len(coco['images']) == COCO_KW[f'num_{split}']
        assert coco_set[split]['num_objects'] == len(coco['annotations'])
        ann_ids = [a['id'] for a in coco['annotations']]
        assert len(set(ann_ids)) == len(ann_ids) and min(ann_ids) >= 1
        for img in coco['images']:
            h, w = img['height'], img['width']
            assert (h, w) == COCO_KW['img_size']
            pixels = np.asarray(
                Image.open(root / coco_set[split]['img_prefix'] /
                           img['file_name']).convert('RGB'))
            assert pixels.shape == (h, w, 3)
            anns = [
                a for a in coco['annotations'] if a['image_id'] == img['id']
            ]
            assert 1 <= len(anns) <= 4
            union = np.zeros((h, w), dtype=int)
            for a in anns:
                x, y, bw, bh = a['bbox']
                assert x >= 0 and y >= 0 and x + bw <= w and y + bh <= h
                assert 8 <= max(bw, bh) <= min(h, w) / 2 + 1
                assert a['iscrowd'] == 0
                assert 0 < a['area'] <= bw * bh
                assert 1 <= a['category_id'] <= 4
                mask = _rasterise(a['segmentation'][0], h, w)
                union += mask
                ys, xs = np.nonzero(mask)
                # the polygon, box and area describe the same pixels
                assert abs(xs.min() - x) <= 1 and abs(ys.min() - y) <= 1
                assert abs(xs.max() + 1 - (x + bw)) <= 1
                assert abs(ys.max() + 1 - (y + bh)) <= 1
                assert abs(mask.sum() - a['area']) <= 0.05 * a['area'] + 2
                # and the painted pixels have the colour of the class
                name = COCO_SHAPES_CLASSES[a['category_id'] - 1]
                hue = _median_hue(pixels[mask])
                assert _hue_dist(hue, EXPECTED_HUE[name]) < 30, (name, hue)
            assert union.max() == 1  # shapes do not overlap


def test_cityscapes_labels_consistent(cs_set):
    root = Path(cs_set['data_root'])
    h, w = CS_KW['img_size']
    allowed = set(CITYSCAPES_SHAPES_TRAIN_IDS) | {255}
    assert CITYSCAPES_SHAPES_TRAIN_IDS == (0, 7, 8, 10, 11, 13)
    assert len(CITYSCAPES_CLASSES) == 19
    assert CITYSCAPES_CLASSES[10] == 'sky' and CITYSCAPES_CLASSES[0] == 'road'
    for split in ('train', 'val'):
        imgs = sorted((root / cs_set[split]['img_path']).rglob('*.png'))
        assert len(imgs) == CS_KW[f'num_{split}']
        for img_path in imgs:
            assert img_path.name.endswith('_leftImg8bit.png')
            city = img_path.parent.name
            assert img_path.name.startswith(city + '_')
            seg_path = (
                root /
                cs_set[split]['seg_map_path'] / city / img_path.name.replace(
                    '_leftImg8bit.png', '_gtFine_labelTrainIds.png'))
            label_img = Image.open(seg_path)
            assert label_img.mode == 'L'
            label = np.asarray(label_img)
            pixels = np.asarray(Image.open(img_path).convert('RGB'))
            assert label.shape == (h, w) and pixels.shape == (h, w, 3)
            assert set(np.unique(label).tolist()) <= allowed
            # ego band at the bottom ignored, nothing ignored elsewhere
            ignored_rows = np.nonzero((label == 255).all(1))[0]
            assert len(ignored_rows) >= 1 and ignored_rows.max() == h - 1
            assert not (label[:ignored_rows.min()] == 255).any()
            # sky above road, at least one shape
            assert (label[0] == 10).mean() > 0.5
            assert (label[ignored_rows.min() - 1] == 0).mean() > 0.5
            shape_ids = set(CITYSCAPES_SHAPE_TRAIN_IDS.values())
            present = set(np.unique(label).tolist()) & shape_ids
            assert present
            for name, tid in CITYSCAPES_SHAPE_TRAIN_IDS.items():
                if tid in present:
                    hue = _median_hue(pixels[label == tid])
                    assert _hue_dist(hue, EXPECTED_HUE[name]) < 30


def test_idempotent_and_regenerates(tmp_path):
    out = tmp_path / 'set'
    first = make_coco_shapes(out, **COCO_KW)
    assert first['generated']
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob('*')}
    again = make_coco_shapes(out, **COCO_KW)
    assert not again['generated']
    assert again == dict(first, generated=False)
    assert {p: p.stat().st_mtime_ns for p in out.rglob('*')} == stamps
    # other parameters: the old set is replaced, no stale image is left
    smaller = make_coco_shapes(out, **dict(COCO_KW, num_train=2))
    assert smaller['generated'] and smaller['train']['num_images'] == 2
    assert len(list((out / 'train').glob('*.png'))) == 2
    assert json.loads(
        (out / 'meta.json').read_text())['params']['num_train'] == 2


def test_refuses_foreign_folders(tmp_path):
    foreign = tmp_path / 'foreign'
    foreign.mkdir()
    (foreign / 'keep.txt').write_text('mine')
    with pytest.raises(FileExistsError, match='not empty'):
        make_coco_shapes(foreign, **COCO_KW)
    assert (foreign / 'keep.txt').read_text() == 'mine'
    coco = tmp_path / 'coco'
    make_coco_shapes(coco, **COCO_KW)
    with pytest.raises(FileExistsError, match="'coco_shapes' set"):
        make_cityscapes_shapes(coco, **CS_KW)


@pytest.mark.parametrize('kw,match', [
    (dict(num_classes=0), 'num_classes'),
    (dict(num_classes=len(SHAPE_CLASSES) + 1), 'num_classes'),
    (dict(min_objects=3, max_objects=2), 'min_objects'),
    (dict(min_objects=0), 'min_objects'),
    (dict(img_size=(20, 64)), 'too small'),
    (dict(img_size=(64, )), 'height, width'),
    (dict(num_train=-1), 'num_train'),
    (dict(num_train=0, num_val=0), 'nothing to generate'),
    (dict(min_size=2, img_size=(64, 64)), 'min_size'),
])
def test_bad_arguments(tmp_path, kw, match):
    with pytest.raises(ValueError, match=match):
        make_coco_shapes(tmp_path / 'x', **kw)
    assert not (tmp_path / 'x').exists()


def test_cityscapes_bad_ego_frac(tmp_path):
    with pytest.raises(ValueError, match='ego_frac'):
        make_cityscapes_shapes(tmp_path / 'x', ego_frac=0.5)


def test_more_classes(tmp_path):
    info = make_coco_shapes(tmp_path / 's', num_train=6, num_val=1,
                            img_size=(64, 64), num_classes=6, max_objects=6)
    assert info['classes'] == coco_shapes_classes(6) == SHAPE_CLASSES
    cats = {a['category_id'] for a in _load_coco(info, 'train')['annotations']}
    assert cats <= set(range(1, 7)) and max(cats) > 4


def test_cli_matches_function(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    script = str(REPO_ROOT / 'tools' / 'misc' / 'make_shapes.py')
    out = subprocess.run([
        sys.executable, script, 'coco',
        str(tmp_path / 'cli'), '--num-train', '2', '--num-val', '1', '--size',
        '64', '64', '--seed', '3'
    ], env=env, capture_output=True, text=True, check=True)
    info = json.loads(out.stdout)
    assert info['train']['num_images'] == 2 and info['classes'] == list(
        COCO_SHAPES_CLASSES)
    make_coco_shapes(tmp_path / 'fn', num_train=2, num_val=1,
                     img_size=(64, 64), seed=3)
    assert _tree_bytes(tmp_path / 'cli') == _tree_bytes(tmp_path / 'fn')


def test_cli_rejects_num_classes_for_cityscapes(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        'make_shapes', REPO_ROOT / 'tools' / 'misc' / 'make_shapes.py')
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    with pytest.raises(SystemExit) as err:
        cli.main(['cityscapes', str(tmp_path / 'x'), '--num-classes', '3'])
    assert err.value.code == 2
    assert 'coco layout only' in capsys.readouterr().err
    assert not (tmp_path / 'x').exists()
    info = cli.main([
        'cityscapes',
        str(tmp_path / 'y'), '--num-train', '1', '--num-val', '1', '--size',
        '64', '128'
    ])
    assert info['val']['num_images'] == 1
    assert json.loads(
        capsys.readouterr().out)['classes'] == list(CITYSCAPES_CLASSES)


# ------------------------------------------------- real mmdet / mmseg APIs
def _build_coco_dataset(info, split):
    from mmdet.registry import DATASETS
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    cfg = dict(
        type='CocoDataset', data_root=info['data_root'],
        ann_file=info[split]['ann_file'],
        data_prefix=dict(img=info[split]['img_prefix']),
        metainfo=dict(classes=info['classes']), test_mode=split == 'val',
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations', with_bbox=True),
            dict(type='PackDetInputs')
        ])
    with DefaultScope.overwrite_default_scope('mmdet'):
        return DATASETS.build(cfg)


def _build_cityscapes_dataset(info, split):
    from mmseg.registry import DATASETS
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    cfg = dict(
        type='CityscapesDataset', data_root=info['data_root'],
        data_prefix=dict(img_path=info[split]['img_path'],
                         seg_map_path=info[split]['seg_map_path']), pipeline=[
                             dict(type='LoadImageFromFile'),
                             dict(type='LoadAnnotations'),
                             dict(type='PackSegInputs')
                         ])
    with DefaultScope.overwrite_default_scope('mmseg'):
        return DATASETS.build(cfg)


def test_coco_dataset_loads(coco_set):
    ds = _build_coco_dataset(coco_set, 'train')
    coco = _load_coco(coco_set, 'train')
    assert len(ds) == COCO_KW['num_train']
    assert ds.metainfo['classes'] == COCO_SHAPES_CLASSES
    for i in range(len(ds)):
        item = ds[i]
        sample = item['data_samples']
        assert tuple(item['inputs'].shape) == (3, *COCO_KW['img_size'])
        anns = [
            a for a in coco['annotations'] if a['image_id'] == sample.img_id
        ]
        expected = torch.tensor([[x, y, x + w, y + h]
                                 for x, y, w, h in (a['bbox'] for a in anns)],
                                dtype=torch.float32)
        assert torch.equal(sample.gt_instances.bboxes.tensor, expected)
        assert sample.gt_instances.labels.tolist() == [
            a['category_id'] - 1 for a in anns
        ]


def _coco_eval(info, shift=0.):
    """CocoMetric on the val set, predictions = ground truth read back
    through CocoDataset, boxes shifted right by ``shift`` of their width."""
    from mmdet.evaluation import CocoMetric
    ds = _build_coco_dataset(info, 'val')
    metric = CocoMetric(
        ann_file=str(Path(info['data_root']) / info['val']['ann_file']),
        metric='bbox')
    metric.dataset_meta = ds.metainfo
    for i in range(len(ds)):
        sample = ds[i]['data_samples']
        boxes = sample.gt_instances.bboxes.tensor.clone()
        width = boxes[:, 2] - boxes[:, 0]
        boxes[:, [0, 2]] += shift * width[:, None]
        pred = dict(bboxes=boxes, labels=sample.gt_instances.labels,
                    scores=torch.ones(len(boxes)))
        metric.process({}, [
            dict(img_id=sample.img_id, ori_shape=sample.ori_shape,
                 pred_instances=pred)
        ])
    return metric.evaluate(len(ds))


def test_coco_metric_perfect_predictions(coco_set):
    assert _coco_eval(coco_set)['coco/bbox_mAP'] == pytest.approx(1.0)
    # boxes moved by half their width have IoU 1/3 < 0.5: no match at all
    assert _coco_eval(coco_set, shift=0.5)['coco/bbox_mAP'] == 0


def test_cityscapes_dataset_loads(cs_set):
    ds = _build_cityscapes_dataset(cs_set, 'train')
    assert len(ds) == CS_KW['num_train']
    assert ds.metainfo['classes'] == CITYSCAPES_CLASSES
    for i in range(len(ds)):
        item = ds[i]
        sample = item['data_samples']
        assert tuple(item['inputs'].shape) == (3, *CS_KW['img_size'])
        label = np.array(Image.open(sample.seg_map_path))
        assert torch.equal(sample.gt_sem_seg.data[0],
                           torch.from_numpy(label).long())


def _iou_eval(info, constant=None):
    from mmseg.evaluation import IoUMetric
    ds = _build_cityscapes_dataset(info, 'val')
    metric = IoUMetric(iou_metrics=['mIoU'])
    metric.dataset_meta = ds.metainfo
    for i in range(len(ds)):
        sample = ds[i]['data_samples']
        gt = sample.gt_sem_seg.data
        pred = gt.clone() if constant is None else torch.full_like(
            gt, constant)
        metric.process(
            {}, [dict(pred_sem_seg=dict(data=pred), gt_sem_seg=dict(data=gt))])
    return metric.evaluate(len(ds))


def test_iou_metric_perfect_predictions(cs_set):
    assert _iou_eval(cs_set)['mIoU'] == pytest.approx(100.)
    # predicting road everywhere leaves only road partly right
    assert _iou_eval(cs_set, constant=0)['mIoU'] < 30.


def test_coco_shapes_with_other_classes_in_the_slots(tmp_path):
    """``classes`` puts other shapes in the class slots: the categories
    list them in that order, and the painted shapes follow their names."""
    from mmkd.datasets.synthetic import make_coco_shapes
    info = make_coco_shapes(tmp_path / 'other', num_train=2, num_val=1,
                            img_size=(64, 64),
                            classes=('square', 'circle', 'star', 'triangle'))
    assert info['classes'] == ('square', 'circle', 'star', 'triangle')
    with open(tmp_path / 'other' / 'annotations' /
              'instances_train.json') as f:
        categories = json.load(f)['categories']
    assert [(c['id'], c['name']) for c in categories] == [(1, 'square'),
                                                          (2, 'circle'),
                                                          (3, 'star'),
                                                          (4, 'triangle')]
    with pytest.raises(ValueError, match='distinct names'):
        make_coco_shapes(tmp_path / 'bad', classes=('circle', 'hexagon'))
    with pytest.raises(ValueError, match='distinct names'):
        make_coco_shapes(tmp_path / 'bad', classes=('circle', 'circle'))
