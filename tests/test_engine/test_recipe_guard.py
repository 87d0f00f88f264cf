# Copyright (c) mmkd contributors. All rights reserved.
"""The recipe guard (mmkd.RecipeGuardHook) and
tools/analysis_tools/compare_to_paper.py on a real toy run: the toy PKD
RetinaNet config, whose metafile entry holds the demo's measured number and
recipe (1 process x 16 images, 30 epochs), trained for one short epoch
through mmkd's Runner at 1 x 4."""
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
from dense_utils import config_path, load, shrink_det_cfg, train
from launch_utils import REPO_ROOT, run

from mmkd.apis import build_runner, prepare_train_cfg
from mmkd.engine.distill_hooks import DISTILL_HOOKS
from mmkd.utils import load_config

PKD = 'configs/pkd/pkd_fpn_retinanet_r18-w64_r18-w32_toy-shapes.py'
COMPARE = osp.join(REPO_ROOT, 'tools', 'analysis_tools', 'compare_to_paper.py')


def guard(runner):
    hooks = [h for h in runner.hooks if type(h).__name__ == 'RecipeGuardHook']
    assert len(hooks) == 1
    return hooks[0]


def run_log(work_dir: str) -> str:
    logs = glob.glob(osp.join(work_dir, '*', '*.log'))
    assert len(logs) == 1, logs
    with open(logs[0]) as f:
        return f.read()


@pytest.fixture(scope='module')
def toy_run(tmp_path_factory, coco_shapes_root, retina_teacher_ckpt):
    """One epoch (2 iterations of 4 images), validated: the real Runner."""
    work_dir = str(tmp_path_factory.mktemp('recipe_run'))
    cfg = load(PKD, **{'model.teacher.checkpoint': retina_teacher_ckpt})
    cfg = shrink_det_cfg(cfg, coco_shapes_root, work_dir, max_epochs=1,
                         batch_size=4)
    # mmdet's runtime names its visualizer 'visualizer', one instance per
    # process: an earlier test's runner would own it and its save_dir
    cfg.visualizer.name = f'recipe_guard_{osp.basename(work_dir)}'
    runner = train(cfg, config_path(PKD))
    return runner, work_dir


def test_every_distill_run_gets_the_guard():
    assert 'mmkd.RecipeGuardHook' in DISTILL_HOOKS


def test_guard_warns_once_when_batch_and_schedule_differ(toy_run):
    runner, work_dir = toy_run
    message = guard(runner).message
    assert message is not None
    assert message.startswith(
        'Recipe guard: this run of pkd/pkd_fpn_retinanet_r18-w64_r18-w32_'
        'toy-shapes.py differs from the recipe of its measured result '
        '(box AP 0.539; measured')
    assert "total batch 4 (1 process x 4) vs the recipe's 16 (1 GPU x 16)" \
        in message
    assert "schedule 1 epoch vs the recipe's 30 epochs" in message
    assert ('--cfg-options auto_scale_lr.enable=True '
            'auto_scale_lr.base_batch_size=16') in message
    assert '--cfg-options train_cfg.max_epochs=30' in message
    log = run_log(work_dir)
    # one warning, before the first iteration; the run went on (and ended)
    assert log.count('Recipe guard: this run') == 1
    assert 'WARNING' in log[:log.index('Recipe guard: this run')].rsplit(
        '\n', 1)[-1]
    assert log.index('Recipe guard') < log.index('Epoch(train)')
    assert runner.iter == 2


def test_guard_is_silent_when_the_run_is_the_recipe(tmp_path, coco_shapes_root,
                                                    retina_teacher_ckpt):
    """1 process x 16 images, 30 epochs: the recipe. The hook is called on
    the real Runner built from the config (training it would take
    minutes)."""
    cfg = load(PKD, **{'model.teacher.checkpoint': retina_teacher_ckpt})
    cfg = shrink_det_cfg(cfg, coco_shapes_root, str(tmp_path), max_epochs=30,
                         batch_size=16)
    cfg = prepare_train_cfg(cfg, config_path=config_path(PKD),
                            work_dir=str(tmp_path))
    runner = build_runner(cfg)
    hook = guard(runner)
    hook.before_train(runner)
    assert hook.message is None
    log = run_log(str(tmp_path))
    assert 'Recipe guard: this run' not in log
    assert 'runs its recipe (measured box AP 0.539)' in log


def test_guard_leaves_configs_without_entry_alone(tmp_path, coco_shapes_root,
                                                  retina_teacher_ckpt):
    """A user's config built on the toy PKD one is not the entry's."""
    mine = tmp_path / 'mine.py'
    mine.write_text(f'_base_ = [{config_path(PKD)!r}]\n')
    cfg = load_config(
        str(mine), {'model.teacher.checkpoint': retina_teacher_ckpt})
    cfg = shrink_det_cfg(cfg, coco_shapes_root, str(tmp_path))
    cfg = prepare_train_cfg(cfg, config_path=str(mine), work_dir=str(tmp_path))
    runner = build_runner(cfg)
    hook = guard(runner)
    hook.before_train(runner)
    assert hook.message is None
    assert 'Recipe guard' not in run_log(str(tmp_path))


def test_compare_to_paper_prints_the_run_against_the_numbers(toy_run):
    _, work_dir = toy_run
    scalars = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    assert len(scalars) == 1
    with open(scalars[0]) as f:
        logged = [json.loads(line) for line in f if 'coco/bbox_mAP' in line]
    value = logged[-1]['coco/bbox_mAP']
    env = dict(PYTHONPATH=REPO_ROOT + os.pathsep +
               os.environ.get('PYTHONPATH', ''))
    # from another directory: the dumped config names the entry
    out = run([sys.executable, COMPARE, work_dir],
              cwd=str(osp.dirname(work_dir)), env=env)
    assert ('pkd/pkd_fpn_retinanet_r18-w64_r18-w32_toy-shapes.py: '
            'pkd_fpn_retinanet_r18-w64_r18-w32_toy-shapes (measured; '
            'measured (docs/get_started.md demo table') in out
    assert (f'| teacher: toy RetinaNet R18-w64 | 0.597 | '
            f'{value - 0.597:+.3f} |') in out
    assert (f'| student: toy RetinaNet R18-w32 | 0.523 | '
            f'{value - 0.523:+.3f} |') in out
    assert f'| distilled (measured) | 0.539 | {value - 0.539:+.3f} |' in out
    assert f'| this run | {value:.3f} | |' in out
    assert (f'gain over the student: this run {value - 0.523:+.3f}, '
            'measured +0.016') in out
    assert ('recipe: 1 GPU x 16 = 16 per iteration, 30 epochs, input 96x96'
            in out)
    assert "total batch 4 (1 process x 4) vs the recipe's 16" in out
    assert "schedule 1 epoch vs the recipe's 30 epochs" in out


def test_compare_to_paper_without_entry_says_so(tmp_path):
    run_dir = tmp_path / '20260101_000000' / 'vis_data'
    run_dir.mkdir(parents=True)
    (run_dir / 'scalars.json').write_text('{"coco/bbox_mAP": 0.1}\n')
    (tmp_path / 'mine.py').write_text('train_cfg = dict(max_epochs=1)\n')
    proc = subprocess.run(
        [sys.executable, COMPARE, str(tmp_path)],
        env=dict(os.environ, PYTHONPATH=REPO_ROOT), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, timeout=300)
    assert proc.returncode == 1
    assert 'no metafile entry for the config' in proc.stdout


MEAN = ('configs/multi_teacher/pkd-mean_fpn_retinanet_2xr18-w64_r18-w32_'
        'toy-shapes.py')


def test_guard_and_compare_take_a_several_teacher_config(
        tmp_path, coco_shapes_root, retina_teacher_ckpt):
    """The toy mean-ensemble config (two teachers): the guard names its
    measured number and recipe on the real Runner built from it; the
    comparison lists both teachers' numbers."""
    from mmkd.utils.metafile import find_recipe
    entry = find_recipe(MEAN)
    assert [t['Name'] for t in entry.teachers] == [
        'toy RetinaNet R18-w64 (seed 0)', 'toy RetinaNet R18-w64 (seed 1)'
    ]
    cfg = load(
        MEAN, **{
            f'model.teachers.{name}.checkpoint': retina_teacher_ckpt
            for name in 'ab'
        })
    cfg = shrink_det_cfg(cfg, coco_shapes_root, str(tmp_path))
    cfg.visualizer.name = f'recipe_guard_multi_{osp.basename(tmp_path)}'
    cfg = prepare_train_cfg(cfg, config_path=config_path(MEAN),
                            work_dir=str(tmp_path))
    runner = build_runner(cfg)
    hook = guard(runner)
    hook.before_train(runner)
    assert hook.message.startswith(
        'Recipe guard: this run of multi_teacher/pkd-mean_fpn_retinanet_'
        f'2xr18-w64_r18-w32_toy-shapes.py differs from the recipe of its '
        f'measured result (box AP {entry.value:g}; measured')
    # a finished run's work dir: its dumped config and final metrics
    run_dir = tmp_path / 'work' / '20261207_000000' / 'vis_data'
    run_dir.mkdir(parents=True)
    (run_dir / 'scalars.json').write_text('{"coco/bbox_mAP": 0.2}\n')
    runner.cfg.dump(str(tmp_path / 'work' / osp.basename(MEAN)))
    out = run(
        [sys.executable, COMPARE,
         str(tmp_path / 'work'), '--world-size', '1'], cwd=str(tmp_path),
        env=dict(PYTHONPATH=REPO_ROOT))
    for teacher in entry.teachers:
        value = teacher['Metrics']['box AP']
        assert (f'| teacher: {teacher["Name"]} | {value:.3f} | '
                f'{0.2 - value:+.3f} |') in out
    assert f'| distilled (measured) | {entry.value:.3f} |' in out
