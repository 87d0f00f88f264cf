# Copyright (c) mmkd contributors. All rights reserved.
"""What tools/train.py and tools/test.py do to a config before the Runner."""
import os.path as osp
from typing import Iterator, Optional, Tuple

from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

DISTILL_HOOKS = ('mmkd.DistillCheckpointHook', 'mmkd.DistillCheckHook')


def is_distill_cfg(cfg: Config) -> bool:
    model_type = str(cfg.get('model', {}).get('type', ''))
    return model_type.split('.')[-1].endswith('Distiller')


def _iter_datasets(cfg: dict) -> Iterator[dict]:
    """The dataset configs inside a dataset config (wrappers included)."""
    if not isinstance(cfg, dict):
        return
    yield cfg
    inner = cfg.get('dataset')
    if isinstance(inner, dict):
        yield from _iter_datasets(inner)
    for item in cfg.get('datasets', []) or []:
        yield from _iter_datasets(item)


def check_data_roots(cfg: Config, loaders: Tuple[str, ...]) -> None:
    """Fail early, with a fix, when a dataset's ``data_root`` is missing."""
    for loader in loaders:
        loader_cfg = cfg.get(loader)
        if not loader_cfg:
            continue
        for ds in _iter_datasets(loader_cfg.get('dataset', {})):
            root = ds.get('data_root')
            if root and not osp.isdir(root):
                raise FileNotFoundError(
                    f'{loader}: data_root {root!r} does not exist '
                    f'(resolved to {osp.abspath(root)}). Put the data set '
                    'there or set another root with --cfg-options '
                    f'{loader}.dataset.data_root=PATH; the synthetic sets '
                    'are made by `python tools/misc/make_shapes.py`.')


def _work_dir(cfg: Config, config_path, work_dir: Optional[str]) -> str:
    if work_dir is not None:
        return work_dir
    if cfg.get('work_dir'):
        return cfg.work_dir
    name = osp.splitext(osp.basename(str(config_path or 'mmkd')))[0]
    return osp.join('./work_dirs', name)


def prepare_train_cfg(cfg: Config,
                      config_path=None,
                      work_dir: Optional[str] = None,
                      resume: Optional[str] = None,
                      amp: bool = False,
                      launcher: str = 'none') -> Config:
    """Apply the command-line options and add the distillation hooks."""
    cfg.launcher = launcher
    cfg.work_dir = _work_dir(cfg, config_path, work_dir)
    if amp:
        wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if wrapper != 'AmpOptimWrapper':
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif resume is not None:
        if not osp.isfile(resume):
            raise FileNotFoundError(f'--resume checkpoint {resume!r} does '
                                    'not exist')
        cfg.resume = True
        cfg.load_from = resume
    if is_distill_cfg(cfg):
        hooks = list(cfg.get('custom_hooks', []) or [])
        present = {str(h.get('type')).split('.')[-1] for h in hooks}
        for hook in DISTILL_HOOKS:
            if hook.split('.')[-1] not in present:
                hooks.append(dict(type=hook))
        cfg.custom_hooks = hooks
    check_data_roots(cfg, ('train_dataloader', 'val_dataloader'))
    return cfg


def prepare_test_cfg(cfg: Config,
                     config_path=None,
                     checkpoint: Optional[str] = None,
                     work_dir: Optional[str] = None,
                     show_dir: Optional[str] = None,
                     launcher: str = 'none') -> Config:
    """Test config: the checkpoint is loaded into the student's keys."""
    cfg.launcher = launcher
    cfg.work_dir = _work_dir(cfg, config_path, work_dir)
    if checkpoint is not None:
        if '://' not in checkpoint and not osp.isfile(checkpoint):
            raise FileNotFoundError(f'checkpoint {checkpoint!r} does not '
                                    'exist')
        cfg.load_from = checkpoint
    if show_dir is not None:
        vis = cfg.get('default_hooks', {}).get('visualization')
        if vis is None:
            raise ValueError('--show-dir needs a `visualization` hook in '
                             'default_hooks (mmdet/mmseg configs have one)')
        vis.draw = True
        vis.test_out_dir = show_dir
    check_data_roots(cfg, ('test_dataloader', ))
    return cfg


def build_runner(cfg: Config) -> Runner:
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)
