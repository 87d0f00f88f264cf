# Copyright (c) mmkd contributors. All rights reserved.
"""Every shipped COCO / Cityscapes distillation config starts as a user
starts it: ``tools/train.py`` (its ``main``) on a small local set in the
real layout (``data/coco``'s ``annotations/instances_train2017.json`` +
``train2017/``; Cityscapes' ``leftImg8bit``/``gtFine``), the teacher
checkpoint replaced by a local file of fresh weights, the student's
pretrained initialisation pointed at a local file (as the
``PretrainedUnavailableError`` message says), nothing downloaded: the run
takes its two training iterations (one epoch of four images) and writes a
plain student checkpoint.

Only the input sizes (every ``scale``/``scales``/``crop_size`` of the
training pipeline divided by 8) and the batch (2 images) are shrunk, so
real-size models run on a CPU; the models, losses, entries and hooks are
the configs' own."""
import copy
import glob
import json
import os.path as osp
import shutil
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmkd.registry import MODELS
from mmkd.utils import load_config
from mmkd.utils.pretrained_init import (PretrainedUnavailableError,
                                        check_run_pretrained, find_pretrained)

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..'))
sys.path.insert(0, osp.join(REPO, 'tools'))
import train as train_tool  # noqa: E402  tools/train.py
from test_configs import CONFIGS, fresh_teacher_ckpt  # noqa: E402

# end-to-end runs: `make test-e2e` (tests/conftest.py)
pytestmark = pytest.mark.e2e

REAL = [
    p for p in CONFIGS
    if ('_coco.py' in p or 'cityscapes-512x1024' in p) and 'toy' not in p
]


def coco_names():
    """COCO's 80 class names, in mmdet's order."""
    from mmdet.datasets import CocoDataset
    return CocoDataset.METAINFO['classes']


def test_every_real_config_is_here():
    assert len(REAL) == 29  # 25 COCO, 4 Cityscapes


@pytest.fixture(scope='module')
def coco_real_layout(coco_shapes_root, tmp_path_factory):
    """The shapes set rewritten in COCO's own layout, its four classes
    renamed to the first four COCO classes (mmdet's CocoDataset keeps the
    categories whose names are COCO's) and COCO's other categories listed
    (CocoMetric maps each of the 80 labels to one; the teacher check
    scores the teachers' predictions with it): four training and four
    validation images."""
    root = tmp_path_factory.mktemp('coco_real') / 'coco'
    (root / 'annotations').mkdir(parents=True)
    for split, real in (('train', 'train2017'), ('val', 'val2017')):
        with open(
                osp.join(coco_shapes_root, 'annotations',
                         f'instances_{split}.json')) as f:
            ann = json.load(f)
        images = ann['images'][:4]
        keep = {im['id'] for im in images}
        # the shapes' ids 1-4 are the first four COCO names
        assert [c['id'] for c in ann['categories']] == [1, 2, 3, 4]
        ann.update(
            images=images, annotations=[
                a for a in ann['annotations'] if a['image_id'] in keep
            ], categories=[
                dict(id=i + 1, name=name, supercategory='thing')
                for i, name in enumerate(coco_names())
            ])
        with open(root / 'annotations' / f'instances_{real}.json', 'w') as f:
            json.dump(ann, f)
        (root / real).mkdir()
        for im in images:
            shutil.copy(
                osp.join(coco_shapes_root, split, im['file_name']),
                root / real / im['file_name'])
    return str(root) + '/'


def _shrink(obj):
    """Every scale / scales / crop_size of a pipeline divided by 8."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            sizes = isinstance(value, (tuple, list)) and all(
                isinstance(v, int) for v in value)
            if key in ('scale', 'crop_size') and sizes:
                obj[key] = tuple(max(32, v // 8) for v in value)
            elif key == 'scales' and isinstance(value, (tuple, list)):
                obj[key] = [tuple(max(32, v // 8) for v in s) for s in value]
            else:
                _shrink(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            _shrink(value)


def _pretrained_file(cfg, out_dir: str) -> str:
    """A local file of the student backbone's (fresh) weights: what the
    user downloads and points ``init_cfg`` at."""
    path = osp.join(out_dir, 'student_backbone.pth')
    scope = cfg.get('default_scope') or ('mmseg' if 'segmentor' in str(
        cfg.model.student.get('type', '')).lower() else 'mmdet')
    with DefaultScope.overwrite_default_scope(scope):
        # a copy: mmseg's EncoderDecoder writes `pretrained` into the
        # backbone dict it is given
        student = MODELS.build(copy.deepcopy(cfg.model.student))
    torch.save(student.backbone.state_dict(), path)
    return path


@pytest.mark.parametrize('config', REAL)
def test_real_config_trains_two_iterations(config, coco_real_layout,
                                           cityscapes_shapes_root, tmp_path,
                                           monkeypatch):
    cfg = load_config(osp.join(REPO, config))
    seg = 'cityscapes' in config
    data_root = (cityscapes_shapes_root + '/') if seg else coco_real_layout
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    refs = list(find_pretrained(cfg.model.student, 'model.student'))
    assert refs, f'{config}: the student starts from no pretrained weights?'
    local = _pretrained_file(cfg, str(tmp_path))
    # as shipped, where the weights cannot be had (no torchvision, no
    # download: this machine and CI), the message names each reference and
    # the --cfg-options that fixes it
    try:
        check_run_pretrained(cfg)
    except PretrainedUnavailableError as err:
        for key, _ in refs:
            assert f'--cfg-options {key}=' in str(err)

    options = {key: local for key, _ in refs}
    teachers = cfg.model.get('teachers') or {None: cfg.model.teacher}
    for name, teacher in teachers.items():
        key = 'model.teacher' if name is None else f'model.teachers.{name}'
        options[f'{key}.checkpoint'] = fresh_teacher_ckpt(
            teacher, str(tmp_path))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options[f'{loader}.dataset.data_root'] = data_root
        options[f'{loader}.num_workers'] = 0
        options[f'{loader}.persistent_workers'] = False
    options.update({
        'train_dataloader.batch_size': 2,  # BatchNorm in connectors
        'train_cfg.val_begin': 1000,  # no validation: training is the point
        'default_hooks.logger.interval': 1,
        # mmdet names every visualizer 'visualizer' and the first of a
        # process keeps its work dir: each run its own
        'visualizer.name': osp.basename(config),
    })
    if seg:  # mmseg's cityscapes configs count iterations
        options.update({
            'train_cfg.max_iters': 2,
            'default_hooks.checkpoint.interval': 2,
        })
    else:
        options['train_cfg.max_epochs'] = 1
        for evaluator in ('val_evaluator', 'test_evaluator'):
            options[f'{evaluator}.ann_file'] = (
                data_root + 'annotations/instances_val2017.json')
    cfg.merge_from_dict(options)
    _shrink(cfg.train_dataloader.dataset.pipeline)
    _shrink(cfg.get('train_pipeline'))
    # the teacher check evaluates the teachers on the validation images
    # before iteration 1: at an eighth of the real size too
    _shrink(cfg.val_dataloader.dataset.pipeline)
    for model in (cfg.model, cfg.model.student):  # mmseg pads to `size`
        preprocessor = model.get('data_preprocessor') or {}
        if preprocessor.get('size'):
            preprocessor['size'] = tuple(v // 8 for v in preprocessor['size'])
    dumped = str(tmp_path / osp.basename(config))
    cfg.dump(dumped)
    work_dir = str(tmp_path / 'work')
    train_tool.main([dumped, '--work-dir', work_dir])

    logs = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    assert logs, 'no training log'
    with open(logs[0]) as f:
        steps = [json.loads(line) for line in f if '"loss"' in line]
    assert [s['step'] for s in steps][-1] == 2, steps
    assert all(torch.isfinite(torch.tensor(s['loss'])) for s in steps)
    # every teacher was evaluated before iteration 1 (fresh weights: it
    # warns), none failed to be
    log = glob.glob(osp.join(work_dir, '*', '*.log'))[0]
    with open(log) as f:
        text = f.read()
    assert 'could not evaluate' not in text
    assert text.count("(the run's validation pipeline and metric") == \
        len(teachers), text[-3000:]
    ckpts = glob.glob(osp.join(work_dir, '*.pth'))
    assert ckpts
    state = torch.load(
        sorted(ckpts)[-1], map_location='cpu',
        weights_only=False)['state_dict']
    assert not any(k.startswith(('teacher.', 'student.')) for k in state)
    # nothing downloaded into torch's hub cache
    assert glob.glob(
        str(tmp_path / 'torch_home' / '**' / '*.pth'), recursive=True) == []


def test_the_message_names_torchvision_for_the_installed_torch():
    from mmkd.utils.pretrained_init import matching_torchvision
    assert matching_torchvision('2.13.0+cpu') == 'torchvision==0.28.*'
    assert matching_torchvision('2.9.1') == 'torchvision==0.24.*'
    cfg = Config(
        dict(
            model=dict(
                student=dict(
                    backbone=dict(init_cfg=[
                        dict(type='Kaiming'),
                        dict(type='Pretrained', checkpoint='/no/such/file.pth')
                    ])))))
    with pytest.raises(PretrainedUnavailableError) as err:
        check_run_pretrained(cfg)
    assert ('model.student.backbone.init_cfg.1.checkpoint = '
            "'/no/such/file.pth': no such file") in str(err.value)
