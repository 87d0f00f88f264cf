# Copyright (c) mmkd contributors. All rights reserved.
"""mmkd.DistillRunner: the runner a distillation config names, so that the
distillation hooks come with the config whatever builds the runner; and
prepare_train_cfg for configs written without configs/_base_/
mmkd_runtime.py. Real configs, real mmengine Runner (built, not trained)."""
import uuid
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from mmkd.apis import build_runner, prepare_train_cfg
from mmkd.engine import DistillRunner, distill_hooks, init_cpu_dist
from mmkd.engine.distill_hooks import hook_type_name
from mmkd.utils import load_config

REPO_PKD = 'configs/pkd/pkd_fpn_retinanet_r18-w64_r18-w32_toy-shapes.py'
REPO_STUDENT = 'configs/toy/retinanet_r18-w32_shapes-coco.py'


@pytest.fixture(scope='module')
def teacher_ckpt(tmp_path_factory):
    from launch_utils import DET_TEACHER, fresh_teacher_ckpt
    path = str(tmp_path_factory.mktemp('runner_teacher') / 'teacher.pth')
    return fresh_teacher_ckpt(DET_TEACHER, path)


def _cfg(rel, tmp_path, teacher_ckpt=None, coco_root=None) -> Config:
    cfg = load_config(rel)
    if teacher_ckpt is not None:
        cfg.model.teacher.checkpoint = teacher_ckpt
    if coco_root is not None:
        cfg.train_dataloader.dataset.data_root = coco_root
        cfg.val_dataloader.dataset.data_root = coco_root
    cfg.work_dir = str(tmp_path)
    cfg.experiment_name = f'runner_{uuid.uuid4().hex}'
    cfg.log_level = 'WARNING'
    return cfg


def _hook_names(runner):
    return [type(h).__name__ for h in runner.hooks]


def _assert_once_each(runner):
    names = _hook_names(runner)
    for hook in distill_hooks.DISTILL_HOOKS:
        assert names.count(hook.split('.')[-1]) == 1, (hook, names)


def test_registry_build_as_mmdet_tools_train_does(tmp_path, teacher_ckpt,
                                                  coco_shapes_root):
    """mmdet's/mmseg's tools/train.py: RUNNERS.build(cfg) for a config with
    runner_type; nothing of mmkd's tools involved."""
    cfg = _cfg(REPO_PKD, tmp_path, teacher_ckpt, coco_shapes_root)
    runner = RUNNERS.build(cfg)
    assert type(runner) is DistillRunner
    _assert_once_each(runner)


def test_prepare_train_cfg_and_the_runner_add_each_hook_once(
        tmp_path, teacher_ckpt, coco_shapes_root):
    cfg = _cfg(REPO_PKD, tmp_path, teacher_ckpt, coco_shapes_root)
    cfg.custom_hooks = [dict(type='mmkd.DistillCheckHook')]  # listed
    runner = build_runner(prepare_train_cfg(cfg, work_dir=str(tmp_path)))
    assert type(runner) is DistillRunner
    _assert_once_each(runner)


def test_config_without_the_base_gets_the_runner_from_tools(
        tmp_path, teacher_ckpt, coco_shapes_root):
    cfg = _cfg(REPO_PKD, tmp_path, teacher_ckpt, coco_shapes_root)
    cfg.pop('runner_type')
    cfg.pop('custom_imports')
    cfg = prepare_train_cfg(cfg, work_dir=str(tmp_path))
    assert cfg.runner_type == 'mmkd.DistillRunner'
    _assert_once_each(build_runner(cfg))
    # a plain Runner still gets them from prepare_train_cfg's custom_hooks
    cfg.runner_type = 'Runner'
    cfg.experiment_name = f'runner_{uuid.uuid4().hex}'
    runner = build_runner(cfg)
    assert type(runner) is Runner
    _assert_once_each(runner)


def test_the_runner_reads_the_one_hook_list(tmp_path, teacher_ckpt,
                                            coco_shapes_root, monkeypatch):
    extended = distill_hooks.DISTILL_HOOKS + ('mmkd.BestStateHook', )
    monkeypatch.setattr(distill_hooks, 'DISTILL_HOOKS', extended)
    runner = RUNNERS.build(
        _cfg(REPO_PKD, tmp_path, teacher_ckpt, coco_shapes_root))
    assert _hook_names(runner).count('BestStateHook') == 1


def test_no_distill_hooks_for_a_plain_model(tmp_path):
    cfg = _cfg(REPO_STUDENT, tmp_path)
    cfg.runner_type = 'mmkd.DistillRunner'
    names = _hook_names(RUNNERS.build(cfg))
    assert 'DistillCheckHook' not in names
    assert 'DistillCheckpointHook' not in names
    for hook in distill_hooks.RUN_STATE_HOOKS:  # every run gets these
        assert names.count(hook.split('.')[-1]) == 1, (hook, names)


def test_hook_type_name():
    from mmkd.engine.hooks import DistillCheckHook
    assert hook_type_name(dict(type='mmkd.DistillCheckHook')) == \
        'DistillCheckHook'
    assert hook_type_name(dict(type=DistillCheckHook)) == 'DistillCheckHook'
    assert hook_type_name(DistillCheckHook()) == 'DistillCheckHook'


def test_ddp_config_on_any_device():
    from mmkd.models.distillers.base import BaseDistiller

    class TinyDistiller(BaseDistiller):  # no teacher needed here

        def forward(self, *args, **kwargs):
            return {}

    distiller = TinyDistiller()
    plain = torch.nn.Linear(1, 1)

    def ddp_cfg(wrapper_cfg, model, **cfg):
        fake = SimpleNamespace(cfg=Config(cfg))
        return DistillRunner._ddp_cfg(fake, wrapper_cfg, model)

    # mmengine's default (no model_wrapper_cfg): the same arguments
    assert ddp_cfg(None,
                   plain) == dict(type='mmkd.MMKDDistributedDataParallel',
                                  broadcast_buffers=False)
    assert ddp_cfg(None, distiller)['find_unused_parameters'] is True
    assert ddp_cfg(
        None, distiller,
        find_unused_parameters=False)['find_unused_parameters'] is False
    # an explicit mmengine DDP config keeps its arguments
    out = ddp_cfg(
        dict(type='MMDistributedDataParallel', find_unused_parameters=False),
        distiller)
    assert out == dict(type='mmkd.MMKDDistributedDataParallel',
                       find_unused_parameters=False)
    # other wrappers are left alone
    fsdp = dict(type='MMFullyShardedDataParallel')
    assert ddp_cfg(fsdp, distiller) is fsdp


def test_cpu_start_needs_torchrun(monkeypatch):
    with pytest.raises(RuntimeError, match='--launcher pytorch'):
        init_cpu_dist('slurm')
    for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(
            RuntimeError, match='RANK, WORLD_SIZE, MASTER_ADDR, '
            'MASTER_PORT not set.*dist_train.sh'):
        init_cpu_dist('pytorch')
