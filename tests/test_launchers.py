# Copyright (c) mmkd contributors. All rights reserved.
"""A distillation config alone brings its wiring: trained through mmdet's
and mmseg's own tools/train.py (the ones their pip packages ship) and
`mim train`, with only `--cfg-options` to shrink it, it runs the pre-flight
check, writes plain student checkpoints (they load into plain
init_detector/init_model with the trained student's predictions) and
resumes its connectors."""
import glob
import os.path as osp
import shutil

import pytest
import torch
from launch_utils import (CWD_SEG, DET_STUDENT, DET_TEACHER, PKD_DET,
                          SEG_STUDENT, SEG_TEACHER, cli, det_options,
                          fresh_teacher_ckpt, package_train_script, python,
                          repo_path, resume_to_epoch_2, run, seg_options)

from mmkd.engine import DISTILL_STATE_KEY, safe_torch_load
from mmkd.utils import load_config

# end-to-end runs: `make test-e2e` (tests/conftest.py)
pytestmark = pytest.mark.e2e

HOOKS = ('DistillCheckHook', 'DistillCheckpointHook')


def _assert_wired(output: str, entry: str) -> None:
    """The distillation hooks were registered and the pre-flight check ran
    (it logs the teacher's feature shapes of each entry)."""
    order = output.split('Hooks will be executed in the following order',
                         1)[-1]
    for hook in HOOKS:
        assert hook in order, f'{hook} not registered'
    assert f"distill entry '{entry}': teacher feature shapes" in output


def _plain_checkpoint(path: str, student) -> dict:
    """The checkpoint holds exactly the student's keys (plus the
    distillation parts beside them); returns it."""
    ckpt = safe_torch_load(path)
    assert set(ckpt['state_dict']) == set(student.state_dict())
    distill = ckpt[DISTILL_STATE_KEY]
    assert distill and all(k.startswith('distill_entries.') for k in distill)
    return ckpt


def _trained_distiller(config: str, ckpt: dict, teacher_ckpt: str):
    """The distiller of ``config`` holding the checkpoint's weights (student
    and distillation parts, loaded strictly): the trained student."""
    from mmengine.registry import DefaultScope

    from mmkd.registry import MODELS
    cfg = load_config(repo_path(config))
    cfg.model.teacher.checkpoint = teacher_ckpt
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
    state = dict(ckpt['state_dict'], **ckpt[DISTILL_STATE_KEY])
    model.load_state_dict(state, strict=True)
    return model.eval()


@pytest.fixture(scope='module')
def det_teacher(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('det_teacher') / 'teacher.pth')
    return fresh_teacher_ckpt(DET_TEACHER, path)


@pytest.fixture(scope='module')
def mmdet_run(tmp_path_factory, coco_shapes_root, det_teacher):
    """The toy PKD config, one epoch (2 iterations) through mmdet's own
    tools/train.py, from a directory outside the checkout."""
    cwd = tmp_path_factory.mktemp('mmdet_cwd')
    work_dir = str(cwd / 'work')
    cmd = [
        python(),
        package_train_script('mmdet'),
        repo_path(PKD_DET), '--work-dir', work_dir, '--cfg-options'
    ] + cli(det_options(coco_shapes_root, det_teacher))
    return dict(
        output=run(cmd, str(cwd)), work_dir=work_dir, cmd=cmd, cwd=str(cwd))


def test_mmdet_train_py_runs_the_check_and_writes_a_plain_student(
        mmdet_run, det_teacher, coco_shapes_root):
    from mmdet.apis import inference_detector, init_detector
    _assert_wired(mmdet_run['output'], 'neck')
    path = osp.join(mmdet_run['work_dir'], 'epoch_1.pth')
    plain = init_detector(repo_path(DET_STUDENT), path, device='cpu')
    ckpt = _plain_checkpoint(path, plain)
    trained = _trained_distiller(PKD_DET, ckpt, det_teacher).student
    trained.cfg = plain.cfg
    for model in (plain, trained):
        # keep every box: two iterations of training score low
        model.bbox_head.test_cfg.score_thr = 0.0
    image = sorted(glob.glob(osp.join(coco_shapes_root, 'val', '*')))[0]
    got = inference_detector(plain, image).pred_instances
    want = inference_detector(trained, image).pred_instances
    assert len(want.scores) > 0
    for key in ('bboxes', 'scores', 'labels'):
        torch.testing.assert_close(got[key], want[key], rtol=0, atol=0)


def test_mmdet_train_py_resume_restores_the_connectors(mmdet_run):
    """`--resume` through mmdet's script: the checkpoint's distillation
    parts go back into the model (mmengine names any key it could not load;
    none is a distillation key) and training continues from epoch 1."""
    first, second = resume_to_epoch_2(mmdet_run['cmd'], mmdet_run['cwd'],
                                      mmdet_run['work_dir'])
    assert set(second['state_dict']) == set(first['state_dict'])


def test_mmseg_train_py_runs_the_check_and_writes_a_plain_student(
        tmp_path, cityscapes_shapes_root):
    from mmseg.apis import inference_model, init_model
    teacher = fresh_teacher_ckpt(SEG_TEACHER, str(tmp_path / 'teacher.pth'),
                                 seg=True)
    work_dir = str(tmp_path / 'work')
    cmd = [
        python(),
        package_train_script('mmseg'),
        repo_path(CWD_SEG), '--work-dir', work_dir, '--cfg-options'
    ] + cli(seg_options(cityscapes_shapes_root, teacher))
    _assert_wired(run(cmd, str(tmp_path)), 'decode_head.conv_seg')
    path = osp.join(work_dir, 'iter_2.pth')
    plain = init_model(repo_path(SEG_STUDENT), path, device='cpu')
    ckpt = safe_torch_load(path)
    assert set(ckpt['state_dict']) == set(plain.state_dict())
    # written by DistillCheckpointHook; CWD on the logits has no learnable
    # distillation part, so it holds nothing
    assert ckpt[DISTILL_STATE_KEY] == {}
    trained = _trained_distiller(CWD_SEG, ckpt, teacher).student
    trained.cfg = plain.cfg
    image = sorted(
        glob.glob(
            osp.join(cityscapes_shapes_root, 'leftImg8bit', 'val', '*',
                     '*.png')))[0]
    got, want = inference_model(plain, image), inference_model(trained, image)
    torch.testing.assert_close(got.seg_logits.data, want.seg_logits.data,
                               rtol=0, atol=0)
    assert torch.equal(got.pred_sem_seg.data, want.pred_sem_seg.data)


@pytest.mark.skipif(
    shutil.which('mim') is None,
    reason='openmim is not installed (make setup installs '
    'openmim==0.3.9)')
def test_mim_train_runs_the_check_and_writes_a_plain_student(
        tmp_path, coco_shapes_root, det_teacher):
    from mmdet.apis import init_detector
    work_dir = str(tmp_path / 'work')
    cmd = [
        'mim', 'train', 'mmdet',
        repo_path(PKD_DET), '--work-dir', work_dir, '--cfg-options'
    ] + cli(det_options(coco_shapes_root, det_teacher))
    output = run(cmd, str(tmp_path))
    assert 'mmdet/.mim/tools/train.py' in output  # mim chose mmdet's script
    _assert_wired(output, 'neck')
    path = osp.join(work_dir, 'epoch_1.pth')
    _plain_checkpoint(
        path, init_detector(repo_path(DET_STUDENT), path, device='cpu'))
