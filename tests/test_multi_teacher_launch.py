# Copyright (c) mmkd contributors. All rights reserved.
"""The toy two-teacher config (a CNN and a Swin teacher) trains through
tools/dist_train.sh with 2 CPU processes, leaves a plain student checkpoint
with both entries' connectors beside it, and resumes through
tools/train.py with them restored."""
import os.path as osp
import socket

import pytest
from launch_utils import (DET_STUDENT, DET_TEACHER, cli, det_options,
                          fresh_teacher_ckpt, python, repo_path,
                          resume_to_epoch_2, run)

from mmkd.engine import DISTILL_STATE_KEY, safe_torch_load

# end-to-end runs: `make test-e2e` (tests/conftest.py)
pytestmark = pytest.mark.e2e

CONFIG = ('configs/multi_teacher/pkd_fpn_retinanet_r18-w64+swin-t32_r18-w32_'
          'toy-shapes.py')
SWIN_TEACHER = 'configs/toy/retinanet_swin-t32_shapes-coco.py'
TESTS_DIR = osp.dirname(osp.abspath(__file__))


@pytest.fixture(scope='module')
def dist_run(tmp_path_factory, coco_shapes_root):
    """One epoch (2 iterations per process) through tools/dist_train.sh."""
    root = tmp_path_factory.mktemp('multi_launch')
    options = det_options(coco_shapes_root, '', batch_size=2)
    del options['model.teacher.checkpoint']
    # with validation data: rank 0 checks both teachers before iteration 1
    for key in ('val_cfg', 'val_dataloader', 'val_evaluator'):
        del options[key]
    options.update({
        'val_dataloader.dataset.data_root':
        coco_shapes_root,
        'val_dataloader.dataset.pipeline.1.scale': (64, 64),
        'val_evaluator.ann_file':
        coco_shapes_root + 'annotations/instances_val.json',
    })
    for name, cfg in (('r18', DET_TEACHER), ('swin', SWIN_TEACHER)):
        options[f'model.teachers.{name}.checkpoint'] = fresh_teacher_ckpt(
            cfg, str(root / f'{name}.pth'))
    work_dir = str(root / 'work')
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    args = [repo_path(CONFIG), '--work-dir', work_dir, '--cfg-options'
            ] + cli(options)
    output = run(['bash', repo_path('tools/dist_train.sh')] + args[:1] +
                 ['2'] + args[1:], str(root), env=dict(
                     PORT=str(port), PYTHONPATH=TESTS_DIR,
                     CUDA_VISIBLE_DEVICES=''))
    return dict(output=output, work_dir=work_dir, args=args, cwd=str(root))


def test_two_teachers_train_on_two_processes(dist_run):
    from mmdet.apis import init_detector
    output = dist_run['output']
    assert 'GPU number: 2' in output  # mmengine's count of processes
    for entry in ('r18_neck', 'swin_neck'):
        assert f"distill entry '{entry}': teacher feature shapes" in output
        assert f'distill.{entry}.loss' in output
    assert "teacher 'swin' input" in output
    # rank 0 evaluated each teacher before iteration 1 (on the 4
    # validation images) while rank 1 went on to wait for it at the first
    # reduction
    for name in ('r18', 'swin'):
        assert f"Teacher check: teacher '{name}' scores coco/bbox_mAP" in \
            output
    assert output.count('Teacher check: took') == 1
    assert '(4 of 4 validation samples)' in output
    ckpt = safe_torch_load(osp.join(dist_run['work_dir'], 'epoch_1.pth'))
    plain = init_detector(repo_path(DET_STUDENT), None, device='cpu')
    assert set(ckpt['state_dict']) == set(plain.state_dict())
    entries = {k.split('.')[1] for k in ckpt[DISTILL_STATE_KEY]}
    assert entries == {'0', '1'}  # both entries' connectors


def test_resume_restores_both_teachers_connectors(dist_run):
    resume_to_epoch_2([python(), repo_path('tools/train.py')] +
                      dist_run['args'], dist_run['cwd'], dist_run['work_dir'])
