# Copyright (c) mmkd contributors. All rights reserved.
"""Helpers of the launcher tests: real training scripts run in subprocesses
on the tiny synthetic sets, shrunk only through ``--cfg-options``."""
import os
import os.path as osp
import subprocess
import sys
from typing import Dict, List, Optional

import torch

REPO_ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))

PKD_DET = 'configs/pkd/pkd_fpn_retinanet_r18-w64_r18-w32_toy-shapes.py'
DET_STUDENT = 'configs/toy/retinanet_r18-w32_shapes-coco.py'
DET_TEACHER = 'configs/toy/retinanet_r18-w64_shapes-coco.py'
CWD_SEG = 'configs/cwd/cwd_logits_pspnet_r18-w32_r18-w16_toy-shapes.py'
SEG_STUDENT = 'configs/toy/pspnet_r18-w16_shapes-cityscapes.py'
SEG_TEACHER = 'configs/toy/pspnet_r18-w32_shapes-cityscapes.py'
LSH_DET = 'configs/lsh/lsh_cls-head_retinanet_r18-w64_r18-w32_toy-shapes.py'


def repo_path(rel: str) -> str:
    return osp.join(REPO_ROOT, rel)


def package_train_script(package: str) -> str:
    """``<package>/.mim/tools/train.py``: the tools/train.py the pip package
    of mmdet or mmseg ships."""
    module = __import__(package)
    path = osp.join(osp.dirname(module.__file__), '.mim', 'tools', 'train.py')
    assert osp.isfile(path), f'{package} ships no {path}'
    return path


def fresh_teacher_ckpt(teacher_cfg: str, out: str, seg: bool = False) -> str:
    """The teacher built from its own config (fresh weights, seed 0) and
    saved as a plain checkpoint."""
    torch.manual_seed(0)
    if seg:
        from mmseg.apis import init_model
        model = init_model(repo_path(teacher_cfg), None, device='cpu')
    else:
        from mmdet.apis import init_detector
        model = init_detector(repo_path(teacher_cfg), None, device='cpu')
    torch.save({'state_dict': model.state_dict()}, out)
    return out


def det_options(data_root: str, teacher_ckpt: str, max_epochs: int = 1,
                batch_size: int = 4) -> Dict[str, object]:
    """Options that shrink a toy detection config to the tiny synthetic
    COCO set (64 px images): a few iterations, no validation."""
    return {
        'model.teacher.checkpoint': teacher_ckpt,
        'train_dataloader.dataset.data_root': data_root,
        'train_dataloader.batch_size': batch_size,
        'train_dataloader.dataset.pipeline.2.scale': (64, 64),
        'train_cfg.max_epochs': max_epochs,
        'val_cfg': None,
        'val_dataloader': None,
        'val_evaluator': None,
        'default_hooks.checkpoint.interval': 1,
        'default_hooks.logger.interval': 1,
        'randomness.seed': 0,
    }


def seg_options(data_root: str, teacher_ckpt: str,
                max_iters: int = 2) -> Dict[str, object]:
    """Options for a toy segmentation config on the tiny synthetic
    Cityscapes set: ``max_iters`` iterations, no validation."""
    return {
        'model.teacher.checkpoint': teacher_ckpt,
        'train_dataloader.dataset.data_root': data_root,
        'train_dataloader.batch_size': 2,
        'train_cfg.max_iters': max_iters,
        'val_cfg': None,
        'val_dataloader': None,
        'val_evaluator': None,
        'default_hooks.checkpoint.interval': max_iters,
        'default_hooks.logger.interval': 1,
        'randomness.seed': 0,
    }


def cli(options: Dict[str, object]) -> List[str]:
    """``--cfg-options`` arguments (``key=value``) for ``options``."""

    def text(value):
        if isinstance(value, tuple):
            return '(' + ','.join(str(v) for v in value) + ')'
        return str(value)

    return [f'{key}={text(value)}' for key, value in options.items()]


def run(cmd: List[str], cwd: str, timeout: int = 600,
        env: Optional[Dict[str,
                           str]] = None, keep: Optional[int] = 6000) -> str:
    """Run ``cmd``; return its output (stdout + stderr), failing the test
    with the output's last ``keep`` characters (all with None) when it
    exits non-zero."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run(cmd, cwd=cwd, env=full_env, timeout=timeout,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    if proc.returncode != 0:
        raise AssertionError(
            f'{" ".join(cmd)}\nexited with {proc.returncode}; output:\n'
            f'{proc.stdout[-keep:] if keep else proc.stdout}')
    return proc.stdout


def python() -> str:
    return sys.executable


def resume_to_epoch_2(cmd: List[str], cwd: str, work_dir: str) -> tuple:
    """Run ``cmd`` (a launch of one epoch, ``train_cfg.max_epochs=1`` among
    its options) again to epoch 2 with ``--resume``; check that it resumed
    from epoch 1 with every distillation key restored (mmengine names any
    key it could not load) and return the two checkpoints."""
    import re

    from mmkd.engine import DISTILL_STATE_KEY, safe_torch_load

    # (the toy configs keep one checkpoint: epoch_1 goes when epoch_2 comes)
    first = safe_torch_load(osp.join(work_dir, 'epoch_1.pth'))
    cmd = [
        c if not c.startswith('train_cfg.max_epochs=') else
        'train_cfg.max_epochs=2' for c in cmd
    ] + ['--resume']
    output = run(cmd, cwd)
    assert 'resumed epoch: 1' in output
    missing = re.findall(r'missing keys in source state_dict: (.*)', output)
    assert not [m for m in missing if 'distill_entries' in m], missing
    second = safe_torch_load(osp.join(work_dir, 'epoch_2.pth'))
    assert second['meta']['epoch'] == 2
    assert set(second[DISTILL_STATE_KEY]) == set(first[DISTILL_STATE_KEY])
    return first, second
