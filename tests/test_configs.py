# Copyright (c) mmkd contributors. All rights reserved.
"""Every config under configs/ is counted and builds: its model is
constructed for real (teacher checkpoints replaced by freshly saved ones of
the same teacher). The bases (files in ``_base_`` folders) are all used, and
each teacher checkpoint is written in one base only."""
import ast
import collections
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmkd.models.teacher.teacher import _build_in_scope, teacher_model_cfg
from mmkd.registry import MODELS
from mmkd.utils import load_config

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..'))
CONFIG_DIR = osp.join(REPO, 'configs')
ALL_PY = sorted(
    osp.relpath(p, REPO)
    for p in glob.glob(osp.join(CONFIG_DIR, '**', '*.py'), recursive=True))
CONFIGS = [p for p in ALL_PY if '_base_' not in p.split(osp.sep)]
BASES = [p for p in ALL_PY if '_base_' in p.split(osp.sep)]

# the configs there are, folder by folder: a config added or removed must
# be counted here too
EXPECTED_CONFIGS = {
    'configs/akd': 11,
    'configs/cls/cifar100': 11,
    'configs/cls/dkd': 8,
    'configs/cls/imagenet': 2,
    'configs/cls/kd': 8,
    'configs/cls/ldrld': 7,
    'configs/cls/lsh': 3,
    'configs/cls/mnist': 11,
    'configs/cls/multi_teacher': 1,
    'configs/cls/rld': 7,
    'configs/crosskd': 12,  # 3 toy + 9 COCO
    'configs/cwd': 5,
    'configs/datafree_regression': 33,  # 3 teachers + 30 students
    'configs/fgd': 2,
    'configs/fitnets': 3,
    'configs/ld': 1,
    'configs/lsh': 4,
    'configs/mgd': 2,
    'configs/multi_teacher': 4,  # 3 toy + 1 COCO
    'configs/pkd': 6,
    'configs/toy': 10,
}

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


def local_bases(path: str) -> list:
    """The files under configs/ that ``path`` inherits, directly or not
    (package-scoped bases such as ``mmdet::`` are not followed)."""
    found, todo = [], [osp.join(REPO, path)]
    while todo:
        current = todo.pop()
        for base in Config._get_base_files(current):
            if '::' in base:
                continue
            full = osp.normpath(osp.join(osp.dirname(current), base))
            rel = osp.relpath(full, REPO)
            if rel not in found:
                found.append(rel)
                todo.append(full)
    return found


def read(path: str) -> str:
    with open(osp.join(REPO, path), encoding='utf-8') as f:
        return f.read()


def writes_teacher_checkpoint(path: str) -> bool:
    """Whether the file writes a teacher checkpoint: a ``checkpoint``
    string in the dict it gives ``teacher`` or ``<name>_teacher`` (``teacher
    = dict(...)`` or ``teacher=dict(...)``, split strings included) or one
    of ``teachers=dict(name=dict(...))``; a backbone's ``init_cfg``
    checkpoint is not one."""
    return bool(written_teachers(path))


def _writes_checkpoint(value) -> bool:
    return isinstance(value, ast.Call) and any(
        k.arg == 'checkpoint' and isinstance(k.value, ast.Constant)
        for k in value.keywords)


def written_teachers(path: str) -> list:
    """The names of the teacher specs with a checkpoint the file writes."""
    found = []
    for node in ast.walk(ast.parse(read(path))):
        if isinstance(node, ast.Assign):
            named = [(t.id, node.value) for t in node.targets
                     if isinstance(t, ast.Name)]
        elif isinstance(node, ast.keyword):
            named = [(node.arg, node.value)]
        else:
            continue
        for name, value in named:
            if name == 'teachers' and isinstance(value, ast.Call):
                found += [
                    f'teachers.{k.arg}' for k in value.keywords
                    if _writes_checkpoint(k.value)
                ]
            elif (name == 'teacher' or name.endswith('_teacher')) \
                    and _writes_checkpoint(value):
                found.append(name)
    return found


def test_every_config_is_counted():
    counts = collections.Counter(osp.dirname(p) for p in CONFIGS)
    assert dict(counts) == EXPECTED_CONFIGS
    assert len(CONFIGS) == sum(EXPECTED_CONFIGS.values()) == 151
    assert len(CONFIGS) + len(BASES) == len(ALL_PY)


def test_every_base_is_used():
    used = set()
    for config in CONFIGS:
        used.update(local_bases(config))
    assert sorted(set(BASES) - used) == []


def test_each_teacher_checkpoint_is_written_once():
    """The method configs take their teacher from a base (a pair base or a
    teacher file), and no two files write the same teacher checkpoint."""
    where = collections.defaultdict(list)
    for path in ALL_PY:
        names = written_teachers(path)
        if not names:
            continue
        assert path in BASES, f'{path}: the teacher belongs in its pair base'
        cfg = Config.fromfile(osp.join(REPO, path))
        for name in names:
            if name.startswith('teachers.'):
                teacher = cfg.model.teachers[name.split('.')[1]]
            else:
                teacher = cfg.get(name) or cfg.model.teacher
            where[teacher['checkpoint']].append(path)
    # 7 classification, 19 dense (the second toy R18-w64 seed of the
    # two-teacher ensemble), 3 regression
    assert len(where) == 29
    assert {c: p for c, p in where.items() if len(p) > 1} == {}


@pytest.mark.parametrize('config', CONFIGS)
def test_config_builds(config, tmp_path_factory):
    cfg = load_config(osp.join(REPO, config))
    model_cfg = cfg.model
    if str(model_cfg.get('type', '')).endswith('Distiller'):
        # the wiring comes with the config (configs/_base_/mmkd_runtime.py):
        # any tools/train.py builds mmkd's runner and its hooks
        assert cfg.get('runner_type') == 'mmkd.DistillRunner'
        assert 'mmkd' in cfg.get('custom_imports', {}).get('imports', [])
    if model_cfg.get('type') in ('mmkd.SingleTeacherDistiller',
                                 'mmkd.MultiTeacherDistiller'):
        # entries keyed by name, so that a config overrides one of its base
        assert isinstance(model_cfg.distill, dict)
    teachers = list((model_cfg.get('teachers') or {}).values())
    teachers.append(model_cfg.get('teacher'))
    for teacher in teachers:
        if isinstance(teacher, dict) and 'checkpoint' in teacher:
            tmp = str(tmp_path_factory.getbasetemp())
            teacher['checkpoint'] = fresh_teacher_ckpt(teacher, tmp)
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmkd')):
        model = MODELS.build(model_cfg)
    assert sum(p.numel() for p in model.parameters()) > 0
