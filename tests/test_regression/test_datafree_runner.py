# Copyright (c) mmkd contributors. All rights reserved.
"""Data-free distillation through mmengine's Runner on a slice of
compactiv, with a teacher trained by the supervised config."""
import glob
import os.path as osp

import numpy as np
import pytest
import torch
from datafree_regression_utils import CONFIG_DIR, SLICE, runner_cfg
from mmengine.runner import Runner

from mmkd.apis import build_runner
from mmkd.datasets import TabularRegressionDataset
from mmkd.engine.hooks import BestStateHook


def distill_cfg(config, teacher_ckpt, work_dir, epochs):
    cfg = runner_cfg(config, work_dir)
    cfg.model.teacher.config = osp.join(CONFIG_DIR,
                                        'teacher_mlp500_compactiv.py')
    cfg.model.teacher.checkpoint = teacher_ckpt
    cfg.train_cfg.max_iters = epochs
    cfg.train_dataloader.dataset.num_samples = epochs
    return cfg


def rmse_to_teacher(model, x):
    with torch.no_grad():
        return float(
            (model.student(x) - model.teacher(x)).pow(2).mean().sqrt())


def test_distillation_lowers_student_rmse_against_teacher(
        compactiv_teacher, tmp_path):
    torch.set_num_threads(1)
    cfg = distill_cfg('direct-adecr_mlp50_compactiv.py', compactiv_teacher,
                      str(tmp_path), epochs=30)
    runner = Runner.from_cfg(cfg)
    model = runner.model
    val_x = runner.val_dataloader.dataset.x  # real rows: the metric only
    before = rmse_to_teacher(model, val_x)
    runner.train()
    after = rmse_to_teacher(model, val_x)
    assert after < 0.5 * before
    # BestStateHook restored the state with the best validation RMSE
    hook = [h for h in runner.hooks if isinstance(h, BestStateHook)][0]
    assert hook.best_score == pytest.approx(runner.val()['rmse'], rel=1e-5)
    assert osp.isfile(osp.join(str(tmp_path), 'best_student.pth'))
    # the test metric is reported in both scales
    metrics = runner.test()
    assert metrics['rmse_orig'] == pytest.approx(
        metrics['rmse'] * runner.test_dataloader.dataset.metainfo['y_std'])


@pytest.mark.parametrize(
    'config',
    ['generator-adecr_mlp50_compactiv.py', 'direct-a1_mlp50_compactiv.py'])
def test_no_real_row_reaches_the_student(compactiv_teacher, tmp_path, config):
    torch.set_num_threads(1)
    cfg = distill_cfg(config, compactiv_teacher, str(tmp_path), epochs=3)
    cfg.train_cfg.val_interval = 100  # no validation: train inputs only
    runner = Runner.from_cfg(cfg)
    seen = []

    def record(module, args):
        if module.training:
            seen.append(args[0].detach().clone())

    runner.model.student.register_forward_pre_hook(record)
    # the train dataloader's items carry only an index and a seed
    for item in runner.train_dataloader.dataset:
        assert set(item) == {'index', 'seed'}
        assert all(v.dim() == 0 for v in item.values())
    runner.train()
    inputs = torch.cat(seen)
    # 3 epochs x 10 student steps, each a synthetic and/or a Gaussian batch
    assert inputs.shape[0] >= 3 * 10 * 50 and inputs.shape[1] == 21
    train = TabularRegressionDataset('compactiv.csv', split='train', **SLICE)
    dist = torch.cdist(inputs.double(), train.x.double())
    assert float(dist.min()) > 1e-3


def test_configs_match_their_names():
    names = sorted(
        osp.basename(p) for p in glob.glob(osp.join(CONFIG_DIR, '*.py')))
    students = [n for n in names if not n.startswith('teacher')]
    assert len(students) == 30 and len(names) == 33
    from mmengine.config import Config
    in_features = dict(compactiv=21, cpusmall=12, mv=10)
    for name in names:
        cfg = Config.fromfile(osp.join(CONFIG_DIR, name))
        method, arch, dataset = name[:-3].split('_')
        assert cfg.model.in_features == in_features[dataset]
        assert cfg.val_dataloader.dataset.ann_file == f'{dataset}.csv'
        if method == 'teacher':
            assert cfg.model.hidden == 500
            continue
        assert cfg.train_dataloader.dataset.type == 'mmkd.NoiseSeedDataset'
        assert (cfg.train_dataloader.dataset.num_samples ==
                cfg.train_cfg.max_iters == 2000)
        assert cfg.model.student.hidden == int(arch[3:])
        strategy = method.split('-')[0]
        assert cfg.model.strategy == strategy
        if method.endswith('-a1'):
            assert cfg.model.mixing == dict(type='fixed', value=1.0)
        elif method != 'gaussian':
            assert cfg.model.mixing == dict(type='decreasing')
        assert cfg.model.batch_size == (50 if 'adecr' in method else 100)
        assert cfg.model.teacher.config.endswith(
            f'teacher_mlp500_{dataset}.py')
        assert np.isclose(cfg.model.beta, 1e-5) and cfg.model.gamma == 1e-5


def _generator_run(teacher_ckpt, work_dir, resume_from=None):
    cfg = distill_cfg('generator-adecr_mlp50_compactiv.py', teacher_ckpt,
                      work_dir, epochs=4)
    cfg.train_cfg.val_interval = 100  # no validation, no best-state swap
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False,
                                        interval=2)
    if resume_from is not None:
        cfg.load_from, cfg.resume = resume_from, True
    runner = build_runner(cfg)  # the config's mmkd.DistillRunner
    runner.train()
    return runner.model


def test_checkpoint_holds_no_teacher_and_resume_is_exact(
        compactiv_teacher, tmp_path):
    torch.set_num_threads(1)
    full = _generator_run(compactiv_teacher, str(tmp_path / 'full'))
    ckpt = torch.load(
        str(tmp_path / 'full' / 'iter_2.pth'), weights_only=False)
    # a plain student checkpoint: the student's keys, the generator apart,
    # and not one teacher weight
    assert set(ckpt['state_dict']) == set(full.student.state_dict())
    assert set(ckpt['distill_state_dict']) == {
        f'generator.{k}'
        for k in full.generator.state_dict()
    }
    # (the teacher has the same key names, hidden 500 instead of 50)
    for key, value in full.student.state_dict().items():
        assert ckpt['state_dict'][key].shape == value.shape
        assert full.teacher.state_dict()[key].shape != value.shape or \
            value.dim() < 2 and value.numel() == 1
    # stop at iteration 2, resume: the same student and generator as the
    # uninterrupted run, to the bit
    resumed = _generator_run(compactiv_teacher, str(tmp_path / 'resumed'),
                             str(tmp_path / 'full' / 'iter_2.pth'))
    for part in ('student', 'generator'):
        want = getattr(full, part).state_dict()
        got = getattr(resumed, part).state_dict()
        assert want.keys() == got.keys()
        for key in want:
            assert torch.equal(want[key], got[key]), (part, key)
