# Copyright (c) mmkd contributors. All rights reserved.
"""Every config under configs/ builds: its model is constructed for real
(teacher checkpoints replaced by freshly saved ones of the same teacher)."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.registry import DefaultScope

from mmkd.models.distillers.teacher import (_build_in_scope,
                                            teacher_model_cfg)
from mmkd.registry import MODELS
from mmkd.utils import load_config

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..'))
CONFIGS = sorted(
    osp.relpath(p, REPO)
    for p in glob.glob(osp.join(REPO, 'configs', '**', '*.py'),
                       recursive=True)
    if '_base_' not in p.split(osp.sep))

_fresh = {}


def fresh_teacher_ckpt(teacher: dict, tmp_dir: str) -> str:
    """Save the teacher model's freshly initialised weights once per
    teacher config."""
    model_cfg, scope = teacher_model_cfg(teacher)
    key = repr(model_cfg)
    if key not in _fresh:
        model = _build_in_scope(model_cfg, scope)
        path = osp.join(tmp_dir, f'teacher_{len(_fresh)}.pth')
        torch.save({'state_dict': model.state_dict()}, path)
        _fresh[key] = path
    return _fresh[key]


def test_configs_found():
    assert len(CONFIGS) >= 10


@pytest.mark.parametrize('config', CONFIGS)
def test_config_builds(config, tmp_path_factory):
    cfg = load_config(osp.join(REPO, config))
    model_cfg = cfg.model
    if str(model_cfg.get('type', '')).endswith('Distiller'):
        # the wiring comes with the config (configs/_base_/mmkd_runtime.py):
        # any tools/train.py builds mmkd's runner and its hooks
        assert cfg.get('runner_type') == 'mmkd.DistillRunner'
        assert 'mmkd' in cfg.get('custom_imports', {}).get('imports', [])
    teacher = model_cfg.get('teacher')
    if isinstance(teacher, dict) and 'checkpoint' in teacher:
        tmp = str(tmp_path_factory.getbasetemp())
        teacher['checkpoint'] = fresh_teacher_ckpt(teacher, tmp)
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmkd')):
        model = MODELS.build(model_cfg)
    assert sum(p.numel() for p in model.parameters()) > 0
