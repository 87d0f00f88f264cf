# Copyright (c) mmkd contributors. All rights reserved.
"""Shrink the toy configs further for tests: tiny images, few iterations."""
import copy
import os.path as osp

from mmengine.config import Config

from mmkd.apis import build_runner, prepare_train_cfg
from mmkd.utils import load_config

REPO_ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))


def config_path(rel: str) -> str:
    return osp.join(REPO_ROOT, rel)


def _set_data_root(loader: dict, data_root: str) -> None:
    loader.dataset.data_root = data_root


def shrink_det_cfg(cfg: Config, data_root: str, work_dir: str,
                   max_epochs: int = 1, batch_size: int = 4,
                   img_scale=(64, 64), random_flip: bool = True) -> Config:
    """Test-size detection config on the tiny synthetic COCO set."""
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg[name]
        loader.batch_size = batch_size
        _set_data_root(loader, data_root)
        for t in loader.dataset.pipeline:
            if t['type'] == 'Resize':
                t['scale'] = img_scale
        if name == 'train_dataloader' and not random_flip:
            loader.dataset.pipeline = [
                t for t in loader.dataset.pipeline if t['type'] != 'RandomFlip'
            ]
    for name in ('val_evaluator', 'test_evaluator'):
        cfg[name].ann_file = osp.join(data_root,
                                      'annotations/instances_val.json')
    # keep every detection: a model trained for a few iterations scores
    # low, and CocoMetric returns no mAP at all for an empty result
    model = cfg.model.get('student', cfg.model)
    test_cfg = model.test_cfg
    for part in (test_cfg, test_cfg.get('rcnn')):
        if part is not None and 'score_thr' in part:
            part.score_thr = 0.0
    cfg.train_cfg.max_epochs = max_epochs
    cfg.train_cfg.val_interval = max_epochs
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=2)
    ]
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=0, deterministic=True)
    return cfg


def shrink_seg_cfg(cfg: Config, data_root: str, work_dir: str,
                   max_iters: int = 2, batch_size: int = 2) -> Config:
    """Test-size segmentation config on the tiny synthetic Cityscapes set."""
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg[name]
        loader.batch_size = batch_size
        _set_data_root(loader, data_root)
    cfg.train_cfg.max_iters = max_iters
    cfg.train_cfg.val_interval = max_iters
    cfg.param_scheduler = [
        dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=max_iters,
             by_epoch=False)
    ]
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False,
                                        interval=max_iters)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1,
                                    log_metric_by_epoch=False)
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=0, deterministic=True)
    return cfg


def seg_size(cfg: Config, size=(64, 128)) -> Config:
    cfg.model.data_preprocessor.size = size
    return cfg


def train(cfg: Config, config_file=None):
    """Train through the same path as tools/train.py; return the runner."""
    cfg = prepare_train_cfg(cfg, config_path=config_file,
                            work_dir=cfg.work_dir)
    runner = build_runner(cfg)
    runner.train()
    return runner


def train_whole_and_resumed(base: Config, part_dir: str):
    """Train ``base`` whole (its work dir), then its first epoch alone in
    ``part_dir`` and resumed from there to the end; return both runners
    (the resumed one has finished ``base``'s epochs)."""
    full = train(copy.deepcopy(base))
    part = copy.deepcopy(base)
    part.work_dir = part_dir
    part.train_cfg.max_epochs = 1
    train(part)
    resumed = copy.deepcopy(base)
    resumed.work_dir = part_dir
    resumed.resume = True
    runner = train(resumed)
    assert runner.epoch == base.train_cfg.max_epochs
    return full, runner


def load(rel: str, **cfg_options) -> Config:
    return load_config(config_path(rel), cfg_options or None)


def save_untrained(rel: str, path, init: bool = False) -> str:
    """Build the mmdet/mmseg model of config ``rel`` and save its (fresh,
    untrained) weights as a checkpoint at ``path``."""
    import torch
    from mmengine.registry import DefaultScope

    from mmkd.registry import MODELS
    cfg = load(rel)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        model = MODELS.build(cfg.model)
    if init:
        model.init_weights()
    torch.save({'state_dict': model.state_dict()}, str(path))
    return str(path)


def _contiguous_args(module, args):
    from torch import Tensor
    return tuple(a.contiguous() if isinstance(a, Tensor) else a for a in args)


def mirror_default_teacher(student, keep=()) -> None:
    """Make ``student`` (in eval mode) compute as the teacher with the
    default execution options does, written out by hand: BatchNorms folded
    (except those paired with a module in ``keep``, the recorded ones),
    convolutions prepacked and channels-last, mmcv's op modules NCHW with
    contiguous inputs. Twins then match the teacher bit for bit."""
    import torch

    from mmkd.models.teacher.bn_folding import fold_batchnorm
    from mmkd.models.teacher.conv_prepacking import prepack_conv_weights
    fold_batchnorm(student, keep)
    prepack_conv_weights(student)
    student.to(memory_format=torch.channels_last)
    for module in student.modules():
        if type(module).__module__.startswith('mmcv.ops'):
            for tensor in list(module.parameters()) + list(module.buffers()):
                tensor.data = tensor.data.contiguous()
            module.register_forward_pre_hook(_contiguous_args)


def randomise_batchnorm(model, seed: int = 0) -> None:
    """Give every BatchNorm2d of ``model`` non-trivial weights and running
    statistics (mmdet zero-initialises the last norm of each residual
    block, zero_init_residual): features then take both signs, and an
    in-place change, a folded norm or a mis-ordered channel shows."""
    import torch
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                c = module.num_features
                module.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                module.bias.copy_(torch.randn(c, generator=gen) * 0.1)
                module.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
                module.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
