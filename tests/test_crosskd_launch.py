# Copyright (c) mmkd contributors. All rights reserved.
"""The toy CrossKD configs train through mmkd's tools/train.py, mmdet's own
tools/train.py and tools/dist_train.sh (2 CPU processes), shrunk only by
`--cfg-options`, and leave plain student checkpoints."""
import os.path as osp
import socket

import pytest
from launch_utils import (DET_TEACHER, cli, det_options, fresh_teacher_ckpt,
                          package_train_script, python, repo_path, run)

from mmkd.engine import DISTILL_STATE_KEY, safe_torch_load

# end-to-end runs: `make test-e2e` (tests/conftest.py)
pytestmark = pytest.mark.e2e

CROSSKD = {
    'retina':
    ('configs/crosskd/crosskd_head_retinanet_r18-w64_r18-w32_toy-'
     'shapes.py', DET_TEACHER, 'configs/toy/retinanet_r18-w32_shapes-coco.py'),
    'gfl': ('configs/crosskd/crosskd_head_gfl_r18-w64_r18-w32_toy-shapes.py',
            'configs/toy/gfl_r18-w64_shapes-coco.py',
            'configs/toy/gfl_r18-w32_shapes-coco.py'),
    'retina+pkd':
    ('configs/crosskd/crosskd-pkd_head_retinanet_r18-w64_r18-w32_'
     'toy-shapes.py', DET_TEACHER,
     'configs/toy/retinanet_r18-w32_shapes-coco.py'),
}
TESTS_DIR = osp.dirname(osp.abspath(__file__))


@pytest.fixture(scope='module')
def teachers(tmp_path_factory):
    root = tmp_path_factory.mktemp('crosskd_teachers')
    return {
        cfg: fresh_teacher_ckpt(cfg, str(root / f'{i}.pth'))
        for i, cfg in enumerate(sorted({t
                                        for _, t, _ in CROSSKD.values()}))
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _command(launcher: str, config: str, work_dir: str):
    if launcher == 'mmkd':
        return [python(), repo_path('tools/train.py'), config], {}
    if launcher == 'mmdet':
        return [python(), package_train_script('mmdet'), config], {}
    env = dict(
        PORT=str(_free_port()), PYTHONPATH=TESTS_DIR, CUDA_VISIBLE_DEVICES='')
    return ['bash', repo_path('tools/dist_train.sh'), config, '2'], env


# each launcher once, each toy config once (the launchers' own wiring is
# tested for every kind of entry in test_launchers.py / test_dist_train.py)
@pytest.mark.parametrize('launcher,pair', [
    ('mmkd', 'retina+pkd'),
    ('mmdet', 'gfl'),
    ('dist', 'retina'),
])
def test_toy_crosskd_trains_and_leaves_a_plain_student(launcher, pair,
                                                       tmp_path,
                                                       coco_shapes_root,
                                                       teachers):
    from mmdet.apis import init_detector
    config, teacher_cfg, student_cfg = CROSSKD[pair]
    work_dir = str(tmp_path / 'work')
    cmd, env = _command(launcher, repo_path(config), work_dir)
    options = det_options(coco_shapes_root, teachers[teacher_cfg],
                          batch_size=2)
    output = run(
        cmd + ['--work-dir', work_dir, '--cfg-options'] + cli(options),
        str(tmp_path), env=env)
    assert "distill entry 'crosskd': teacher feature shapes" in output
    assert 'distill.crosskd.loss_cls' in output
    assert 'distill.crosskd.loss_reg' in output
    ckpt = safe_torch_load(osp.join(work_dir, 'epoch_1.pth'))
    plain = init_detector(repo_path(student_cfg), None, device='cpu')
    assert set(ckpt['state_dict']) == set(plain.state_dict())
    distill = ckpt[DISTILL_STATE_KEY]
    # one connector per branch (cls, reg): their weights ride beside
    assert any(
        k.startswith('distill_entries.') and '.connectors.1.' in k
        for k in distill), sorted(distill)
