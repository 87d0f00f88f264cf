# Copyright (c) mmkd contributors. All rights reserved.
"""tools/model_converters/publish_student.py: a checkpoint mmkd wrote
before its checkpoints held plain values (pickled message hub, numpy), or
a distiller's full state, becomes a student-only file, named with its
sha256 prefix, that loads with torch.load(weights_only=True) and with
plain init_detector/init_model (and the student config saved beside it)
in a process that never imported mmkd."""
import glob
import hashlib
import importlib.util
import os.path as osp
import pickle
import time

import numpy as np
import pytest
import torch
from dense_utils import load
from launch_utils import (CWD_SEG, PKD_DET, SEG_TEACHER, fresh_teacher_ckpt,
                          python, repo_path, run)
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.registry import DefaultScope
from shippable_utils import assert_loads_anywhere, det_image, seg_image

from mmkd.apis import prepare_train_cfg
from mmkd.apis.student_cfg import mmkd_references
from mmkd.engine import DISTILL_STATE_KEY
from mmkd.models.distillers.base import STUDENT_PREFIX
from mmkd.registry import MODELS

TOOL = repo_path('tools/model_converters/publish_student.py')
DET_CLASSES = ('circle', 'square', 'triangle', 'star')


def old_checkpoint(path, config, teacher, data_root, layout='plain'):
    """A checkpoint the way mmkd wrote them before (mmengine's
    Runner.save_checkpoint: meta with the run's config, the message hub's
    state with HistoryBuffers and numpy scalars, optimizer, schedulers;
    DistillCheckpointHook's split). ``layout='full'`` writes the
    distiller's whole state instead (``student.*`` and distillation keys in
    one state dict). Returns the student's weights in it."""
    cfg = load(config)
    cfg.model.teacher.checkpoint = teacher
    cfg.train_dataloader.dataset.data_root = data_root
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg = prepare_train_cfg(cfg, work_dir=osp.dirname(path))  # as train.py
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        distiller = MODELS.build(cfg.model)
    state = distiller.state_dict()
    distill = distiller.split_distill_state(state)
    student = dict(state)
    if layout == 'full':
        state = {STUDENT_PREFIX + k: v for k, v in state.items()}
        state.update(distill)
    hub = MessageHub(f'old-{layout}-{time.time()}')
    for loss in (2.5, 1.25):
        hub.update_scalar('train/loss', loss)
        hub.update_scalar('train/distill.loss', np.float64(loss / 2))
    hub.update_info('eta', np.float64(3.5))
    hub.update_info('iter', 2)
    optimizer = torch.optim.SGD(distiller.parameters(), lr=0.01, momentum=0.9)
    if 'Coco' in cfg.train_dataloader.dataset.type:
        dataset_meta = dict(classes=DET_CLASSES, palette=[(1, 2, 3)] * 4)
    else:
        from mmseg.datasets import CityscapesDataset
        dataset_meta = dict(CityscapesDataset.METAINFO, label_map=None,
                            reduce_zero_label=False)
    torch.save(
        dict(
            meta=dict(epoch=1, iter=2, cfg=cfg.pretty_text, seed=0,
                      experiment_name='old', time='20250101_000000',
                      mmengine_version='0.10.7', dataset_meta=dataset_meta),
            state_dict=state, message_hub=hub.state_dict(),
            optimizer=optimizer.state_dict(), param_schedulers=[],
            **({} if layout == 'full' else {
                DISTILL_STATE_KEY: distill
            })), path)
    # the old form: torch's safe loader refuses it without mmkd's allowlist
    with pytest.raises(pickle.UnpicklingError, match='HistoryBuffer'):
        torch.load(path, weights_only=True)
    return student, dataset_meta['classes']


def check_published(path: str, cfg_file: str, student: dict) -> dict:
    """The published file is named with its sha256 prefix, holds exactly
    the student's weights and meta (torch's safe loader reads it), and its
    config names no mmkd component; returns its content."""
    with open(path, 'rb') as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    stem = osp.splitext(cfg_file)[0]  # OUT's stem
    assert path == f'{stem}-{sha[:8]}.pth'  # as mmdet's publish_model.py
    student_cfg = Config.fromfile(cfg_file)
    assert mmkd_references(student_cfg.to_dict()) == []
    assert 'mmkd' not in str(student_cfg.get('custom_imports'))
    assert 'teacher' not in student_cfg
    ckpt = torch.load(path, weights_only=True)
    assert sorted(ckpt) == ['meta', 'state_dict']
    assert ckpt['state_dict'].keys() == student.keys()  # student only
    for key, value in student.items():
        assert torch.equal(ckpt['state_dict'][key], value), key
    assert ckpt['meta']['cfg'] == student_cfg.pretty_text
    assert ckpt['meta']['epoch'] == 1
    return ckpt


@pytest.mark.parametrize('task', ['det', 'seg'])
def test_an_old_checkpoint_is_published_to_load_anywhere(
        task, retina_teacher_ckpt, coco_shapes_root, cityscapes_shapes_root,
        tmp_path):
    if task == 'det':
        config, teacher, root = PKD_DET, retina_teacher_ckpt, coco_shapes_root
        image = det_image(root)
    else:
        teacher = fresh_teacher_ckpt(SEG_TEACHER, str(tmp_path / 't.pth'),
                                     seg=True)
        config, root = CWD_SEG, cityscapes_shapes_root
        image = seg_image(root)
    old = str(tmp_path / 'epoch_1.pth')
    student, classes = old_checkpoint(old, config, teacher, root)

    out = str(tmp_path / 'published' / 'student.pth')
    output = run([python(), TOOL, old, out, '--save-config'], str(tmp_path))
    published = glob.glob(str(tmp_path / 'published' / 'student-*.pth'))
    assert len(published) == 1 and f'saved at {published[0]}' in output
    cfg_file = str(tmp_path / 'published' / 'student.py')
    check_published(published[0], cfg_file, student)
    got = assert_loads_anywhere(published[0], cfg_file, image, task,
                                str(tmp_path), classes)
    assert got['keys'] == ['meta', 'state_dict']


def _tool_module():
    spec = importlib.util.spec_from_file_location('publish_student', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_full_distiller_state_is_published_as_the_student(
        retina_teacher_ckpt, coco_shapes_root, tmp_path):
    """``student.*`` keys beside the distillation parts in one state dict
    (no DistillCheckpointHook split): the student's weights, renamed."""
    old = str(tmp_path / 'epoch_1.pth')
    student, _ = old_checkpoint(old, PKD_DET, retina_teacher_ckpt,
                                coco_shapes_root, layout='full')
    path, cfg_file = _tool_module().publish_student(
        old, str(tmp_path / 'student.pth'), save_config=True)
    assert cfg_file == str(tmp_path / 'student.py')
    check_published(path, cfg_file, student)


def test_bad_inputs_are_named(tmp_path, retina_teacher_ckpt):
    tool = _tool_module()
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        tool.publish_student(
            str(tmp_path / 'missing.pth'), str(tmp_path / 'out.pth'))
    bare = str(tmp_path / 'bare.pth')
    torch.save({'state_dict': {'w': torch.ones(1)}}, bare)
    with pytest.raises(ValueError, match=r'meta\["cfg"\].*--config CONFIG'):
        tool.publish_student(bare, str(tmp_path / 'out.pth'))
    # the weights are not those of the student the config builds
    with pytest.raises(KeyError, match=r'lacks \d+ weights .*--config'):
        tool.publish_student(bare, str(tmp_path / 'out.pth'),
                             config=repo_path(PKD_DET))
    assert not glob.glob(str(tmp_path / 'out*'))


def test_the_student_config_drops_every_teacher_spec():
    """A several-teacher config's bases leave `teacher` and
    `<name>_teacher` at the top level: neither is the student's."""
    from mmkd.apis.student_cfg import student_config
    cfg = load('configs/cls/multi_teacher/'
               'kd-mean_resnet32x4+wrn-40-2_resnet8x4_cifar100.py')
    assert 'teacher' in cfg and 'wrn_40_2_teacher' in cfg
    student, _ = student_config(cfg)
    assert 'teacher' not in student and 'wrn_40_2_teacher' not in student
    assert student.model == cfg.model.student
