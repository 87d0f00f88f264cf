# Copyright (c) mmkd contributors. All rights reserved.
"""Distil several named teachers into one student."""
from typing import Dict, List, Optional, Union

import torch.nn as nn
from mmengine.config import ConfigDict

from mmkd.models.teacher import build_teacher
from mmkd.registry import MODELS
from .single_teacher_distiller import SingleTeacherDistiller
from .teacher_slot import split_teacher_spec


def _named(name: str, err: Exception) -> Exception:
    """``err`` with the teacher's name in front of its message (the same
    type where it can be rebuilt from a message)."""
    text = f'teacher {name!r}: {err.args[0] if err.args else err}'
    try:
        return type(err)(text)
    except TypeError:
        return RuntimeError(text)


@MODELS.register_module()
class MultiTeacherDistiller(SingleTeacherDistiller):
    """Knowledge distillation from several frozen teachers into a student.

    What :class:`SingleTeacherDistiller` does for its one teacher, for each
    of ``teachers`` (``{name: spec}``): it is built from its own config,
    loaded strictly (safe loading, the same errors, the teacher named in
    them), frozen, and run with its own execution options and its own view
    of the batch. A distill entry names the teacher it reads in its module
    path, ``teacher='<name>.<module>'`` (``'r101.neck'``); one-teacher
    configs keep their plain paths. An entry whose ``teacher`` lists the
    same module of several teachers (``teacher=['r101.neck',
    'x101.neck']``) distils their ensemble, the mean by default or AKD's
    uncertainty-weighted ensemble (``ensemble='uncertainty'``; see
    :class:`~mmkd.models.distillers.teacher_ensemble.TeacherEnsemble`).
    Entries reading different teachers add up, like any two entries.

    Memory: the teachers run one after another under ``no_grad``, each
    only as deep as its entries read, and a teacher's recording is freed as
    soon as the losses of the entries that read it are computed; an
    ensemble entry keeps its levels of each teacher until the last one has
    run. The teachers' peak memory in a step is that of the largest one
    plus the recordings still in use, not the sum of the teachers.

    The checkpoint holds the plain student and the connectors, as with
    one teacher.

    Args:
        student (dict): the student model config.
        teachers (dict[str, dict]): ``{name: dict(config=...,
            checkpoint=..., [teacher_exec=dict(...)], [input_size=(H,
            W)])}``; ``teacher_exec`` overrides, for that teacher, the keys
            of the distiller's ``teacher_exec``; ``input_size`` resizes the
            batch for it (:class:`~mmkd.models.teacher.teacher_view.
            TeacherView`). Names are what entries write before the module
            path (no dots).
        distill (dict | list): the entries (see
            :class:`SingleTeacherDistiller`), with ``teacher`` a
            ``'<name>.<module>'`` path or a list of them and optionally
            ``ensemble``.
        teacher_exec (dict, optional): execution options of every teacher.
        teacher (None): for configs inheriting a one-teacher config, which
            set ``teacher=None``; anything else is refused.
        teacher_forward_mode, teacher_early_stop, check_finite,
            data_preprocessor, init_cfg: as :class:`SingleTeacherDistiller`.
    """

    def __init__(self, student: Union[dict, ConfigDict],
                 teachers: Dict[str, dict], distill: Union[Dict[str, dict],
                                                           List[dict]],
                 teacher_forward_mode: str = 'tensor',
                 teacher_early_stop: bool = True, check_finite: bool = True,
                 teacher_exec: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None,
                 teacher: Optional[dict] = None) -> None:
        if teacher is not None:
            raise ValueError(
                'MultiTeacherDistiller takes its teachers as teachers=dict('
                '<name>=dict(config=..., checkpoint=...), ...), not '
                '`teacher`; a config that inherits a one-teacher config sets '
                'teacher=None')
        if not isinstance(teachers, dict) or not teachers:
            raise ValueError('teachers must be a dict {name: dict(config=..., '
                             'checkpoint=...)} of at least one teacher, got '
                             f'{teachers!r}')
        for name in teachers:
            if not isinstance(name, str) or not name.isidentifier():
                raise ValueError(
                    f'teacher name {name!r}: use a Python identifier (no '
                    "dots): entries read its modules as '<name>.<module>'")
        self.build_student(student, data_preprocessor, init_cfg)
        models, runs = {}, {}
        for name, spec in teachers.items():
            if not isinstance(spec, dict):
                raise TypeError(f'teachers[{name!r}] must be a dict(config='
                                f'..., checkpoint=...), got {spec!r}')
            spec, runs[name] = split_teacher_spec(spec)
            try:
                models[name] = build_teacher(spec)
            except (ValueError, KeyError, TypeError, RuntimeError,
                    FileNotFoundError) as err:
                raise _named(name, err) from err
        # outside the module tree, as BaseDistiller keeps one teacher
        object.__setattr__(self, 'teacher', nn.ModuleDict(models))
        self.setup_distill(runs, distill, teacher_forward_mode,
                           teacher_early_stop, check_finite, teacher_exec)

    def teacher_models(self) -> Dict[Optional[str], nn.Module]:
        return dict(self.teacher.items())

    def teacher_of(self, path: str, where: str) -> Optional[str]:
        name, _, module = path.partition('.')
        if name in self.teacher and module:
            return name
        raise ValueError(
            f"{where}: {path!r} names no teacher's module: with several "
            "teachers a module path starts with the teacher's name, "
            f"'<name>.<module>', e.g. '{next(iter(self.teacher))}.neck'; "
            f'the teachers are {list(self.teacher)}')
