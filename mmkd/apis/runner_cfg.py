# Copyright (c) mmkd contributors. All rights reserved.
"""What tools/train.py and tools/test.py do to a config before the Runner."""
import argparse
import os
import os.path as osp
from typing import Iterator, Optional, Tuple

from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from mmkd.engine.distill_hooks import hook_options, with_mmkd_hooks
from mmkd.utils.annotation_check import check_annotation_files
from mmkd.utils.data_root import HOW_TO_GET_DATA, expand_data_root
from mmkd.utils.pretrained_init import check_run_pretrained


def is_distill_cfg(cfg: Config) -> bool:
    """Whether the config's model is an mmkd distiller (its registered
    class derives from :class:`~mmkd.models.distillers.BaseDistiller`)."""
    from mmkd.models.distillers import BaseDistiller
    from mmkd.registry import MODELS
    model_type = cfg.get('model', {}).get('type')
    if isinstance(model_type, type):
        cls = model_type
    elif isinstance(model_type, str):
        cls = MODELS.get(model_type if '.' in model_type or model_type.
                         startswith('mmkd') else f'mmkd.{model_type}')
    else:
        return False
    return isinstance(cls, type) and issubclass(cls, BaseDistiller)


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
            path = expand_data_root(root)
            if root and not osp.isdir(path):
                hint = f' ({HOW_TO_GET_DATA})' if path != root else ''
                raise FileNotFoundError(
                    f'{loader}: data_root {root!r} does not exist '
                    f'(resolved to {osp.abspath(path)}){hint}. Put the data '
                    'set there or set another root with --cfg-options '
                    f'{loader}.dataset.data_root=PATH; the synthetic sets '
                    'are made by `python tools/misc/make_shapes.py`.')


def _work_dir(cfg: Config, config_path, work_dir: Optional[str]) -> str:
    if work_dir is not None:
        return work_dir
    if cfg.get('work_dir'):
        return cfg.work_dir
    name = osp.splitext(osp.basename(str(config_path or 'mmkd')))[0]
    return osp.join('./work_dirs', name)


DEFAULT_RUNNER = 'mmkd.DistillRunner'


def set_default_runner(cfg: Config) -> None:
    """``runner_type='mmkd.DistillRunner'`` unless the config names a
    runner: distillation hooks, and multi-process runs with or without CUDA
    (:mod:`mmkd.engine.runner`)."""
    if not cfg.get('runner_type'):
        cfg.runner_type = DEFAULT_RUNNER


AMP_WRAPPERS = ('AmpOptimWrapper', 'mmkd.CPUAmpOptimWrapper')


def set_amp(cfg: Config) -> None:
    """``--amp``: mmengine's ``AmpOptimWrapper`` (fp16, dynamic loss scale)
    where CUDA is available, else :class:`~mmkd.engine.optimizers.
    CPUAmpOptimWrapper` (bf16 autocast on the CPU)."""
    import torch
    wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if wrapper in AMP_WRAPPERS:
        return
    if torch.cuda.is_available():
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    else:
        cfg.optim_wrapper.type = 'mmkd.CPUAmpOptimWrapper'


def prepare_train_cfg(cfg: Config, config_path=None,
                      work_dir: Optional[str] = None,
                      resume: Optional[str] = None, amp: bool = False,
                      launcher: str = 'none') -> Config:
    """Apply the command-line options and add the distillation hooks."""
    cfg.launcher = launcher
    cfg.work_dir = _work_dir(cfg, config_path, work_dir)
    if amp:
        set_amp(cfg)
    if resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif resume is not None:
        if not osp.isfile(resume):
            raise FileNotFoundError(f'--resume checkpoint {resume!r} does '
                                    'not exist')
        cfg.resume = True
        cfg.load_from = resume
    set_default_runner(cfg)
    # mmkd.DistillRunner adds these itself; listing them in the config
    # covers configs that name another runner. Idempotent: no hook twice.
    cfg.custom_hooks = with_mmkd_hooks(
        cfg.get('custom_hooks'), distiller=is_distill_cfg(cfg),
        options=hook_options(cfg))
    check_data_roots(cfg, ('train_dataloader', 'val_dataloader'))
    check_annotation_files(cfg, ('train_dataloader', 'val_dataloader'))
    # before the teacher is built (mmkd.DistillRunner asks again for the
    # launchers that do not come through here)
    check_run_pretrained(cfg)
    return cfg


def prepare_test_cfg(cfg: Config, config_path=None,
                     checkpoint: Optional[str] = None,
                     work_dir: Optional[str] = None,
                     show_dir: Optional[str] = None,
                     launcher: str = 'none') -> Config:
    """Test config: the checkpoint is loaded into the student's keys."""
    cfg.launcher = launcher
    set_default_runner(cfg)
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
    check_annotation_files(cfg, ('test_dataloader', ))
    return cfg


def build_runner(cfg: Config) -> Runner:
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def add_launch_args(parser: argparse.ArgumentParser) -> None:
    """The options tools/train.py and tools/test.py share, as mmdet's:
    ``--cfg-options``, ``--launcher`` and ``--local-rank``."""
    from mmengine.config import DictAction
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, key=value')
    parser.add_argument('--launcher',
                        choices=['none', 'pytorch', 'slurm',
                                 'mpi'], default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_launch_args(parser: argparse.ArgumentParser, argv=None):
    """``parser.parse_args`` that also exports ``LOCAL_RANK`` (torch's
    launcher sets it; ``--local-rank`` stands in for older launchers)."""
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args
