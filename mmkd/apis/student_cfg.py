# Copyright (c) mmkd contributors. All rights reserved.
"""The student's own config, derived from a distillation run's config.

A distillation config is the student's OpenMMLab config with the model
replaced by a distiller (``model=dict(type='mmkd.SingleTeacherDistiller',
student=<the student's model>, teacher=..., distill=...)``) and mmkd's
runtime added (``custom_imports=['mmkd']``, ``runner_type``, and, from
mmkd's ``tools/train.py``, mmkd's hooks in ``custom_hooks``). Everything
else (data, pipelines, evaluators, schedule, ``default_scope``) is the
student's. :func:`student_config` undoes the distillation parts, so that
the result is a plain mmdet/mmseg config: ``init_detector`` /
``init_model`` build the student from it in a process without mmkd.

What mmkd's toy and real detection/segmentation configs add is only what
is listed above: their students, data sets (mmdet's ``CocoDataset``,
mmseg's ``CityscapesDataset`` reading the synthetic sets) and pipelines
are OpenMMLab's own. The classification students (mmkd's CIFAR/MNIST
models, data sets and transforms) are mmkd components: their student
config keeps ``custom_imports=['mmkd']``, and :func:`student_config` names
what needs it.
"""
import copy
from typing import Any, List, Tuple

from mmengine.config import Config

from .runner_cfg import is_distill_cfg

MMKD = 'mmkd'
# keys whose value names a registered component or a registry scope
_SCOPE_KEYS = ('type', '_scope_', 'default_scope')
# run-level keys dropped from the student config when they name mmkd
_RUN_KEYS = ('runner_type', )


def _names_mmkd(value: Any) -> bool:
    if isinstance(value, str):
        return value == MMKD or value.startswith(MMKD + '.')
    if isinstance(value, type):
        return value.__module__.split('.')[0] == MMKD
    return False


def mmkd_references(cfg: Any, where: str = '') -> List[str]:
    """Where ``cfg`` names an mmkd component (``'key.path=value'``): a
    ``type`` ``'mmkd.X'`` (or an mmkd class), a ``_scope_`` or
    ``default_scope`` ``'mmkd'``. ``custom_imports`` is not searched."""
    found = []
    if isinstance(cfg, dict):
        for key, value in cfg.items():
            path = f'{where}.{key}' if where else str(key)
            if key == 'custom_imports' and not where:
                continue
            if key in _SCOPE_KEYS and _names_mmkd(value):
                found.append(f'{path}={value!r}')
            else:
                found += mmkd_references(value, path)
    elif isinstance(cfg, (list, tuple)):
        for i, value in enumerate(cfg):
            found += mmkd_references(value, f'{where}.{i}')
    return found


def _without_mmkd_import(cfg: Config) -> None:
    imports = cfg.get('custom_imports')
    if not imports:
        return
    names = imports.get('imports', [])
    names = [names] if isinstance(names, str) else list(names)
    kept = [n for n in names if n != MMKD and not n.startswith(MMKD + '.')]
    if kept:
        cfg.custom_imports = dict(imports, imports=kept)
    else:
        cfg.pop('custom_imports')


def student_config(cfg: Config) -> Tuple[Config, List[str]]:
    """The student's config of ``cfg`` (a distillation run's config, e.g.
    a checkpoint's ``meta['cfg']``), and where it still names mmkd.

    The distiller is replaced by its ``student`` model config and the
    top-level teacher specs (``teacher``, ``<name>_teacher``) are dropped;
    mmkd's hooks leave ``custom_hooks`` and an mmkd ``runner_type`` goes.
    When nothing else names mmkd (see :func:`mmkd_references`), ``'mmkd'``
    leaves ``custom_imports`` too and the config is plain mmdet/mmseg;
    otherwise (an mmkd student, data set or optimizer wrapper) the import
    stays and the second value lists those places. A config that is not a
    distiller's is returned as is (apart from the above)."""
    student = copy.deepcopy(cfg)
    if is_distill_cfg(cfg):
        model = cfg.model.get('student')
        if not isinstance(model, dict):
            raise ValueError(
                f'the distiller {cfg.model.get("type")!r} of this config has '
                'no `student` model config to take the student from; pass '
                "the student's own config instead (--config).")
        student.model = copy.deepcopy(model)
        # the teacher specs of the bases: `teacher`, `<name>_teacher`
        for key in [k for k in cfg if k.endswith('teacher')]:
            student.pop(key)
    hooks = [
        h for h in student.get('custom_hooks') or []
        if not (isinstance(h, dict) and _names_mmkd(h.get('type')))
    ]
    if hooks:
        student.custom_hooks = hooks
    else:
        student.pop('custom_hooks', None)
    for key in _RUN_KEYS:
        if _names_mmkd(student.get(key)):
            student.pop(key)
    needs_mmkd = mmkd_references(student.to_dict())
    if not needs_mmkd:
        _without_mmkd_import(student)
    return student, needs_mmkd
