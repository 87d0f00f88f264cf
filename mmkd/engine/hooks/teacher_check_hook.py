# Copyright (c) mmkd contributors. All rights reserved.
"""Evaluate the teacher before the student learns from it."""
import json
import logging
import os.path as osp
import time
from contextlib import nullcontext
from typing import Dict, List, Optional

import torch
from mmengine.hooks import Hook

from mmkd.evaluation.teacher_verdict import (TeacherVerdict, metric_scale,
                                             primary_metric, warning_message)
from mmkd.registry import HOOKS
from mmkd.utils.metafile import RecipeEntry, find_recipe
from ..val_subset import ValSubset
from .utils import is_distiller, preserved_rng_state, unwrap_model

RESULT_FILE = 'teacher_check.json'
SCALAR_PREFIX = 'teacher_check/'


def teacher_label(name: Optional[str]) -> str:
    """How the check names a teacher: ``'teacher'`` or ``"teacher 'a'"``
    (and its scalars ``teacher`` or ``teacher.a``)."""
    return 'teacher' if name is None else f'teacher {name!r}'


def scalar_name(name: Optional[str]) -> str:
    return 'teacher' if name is None else f'teacher.{name}'


@HOOKS.register_module()
class TeacherCheckHook(Hook):
    """Before the first iteration, evaluate each teacher on the run's own
    validation data, pipeline and metric, and warn when it does not look
    worth learning from.

    Each teacher predicts as the distiller runs it (the student's
    preprocessing, the teacher's view of the batch and its execution
    options, :meth:`~mmkd.models.distillers.BaseDistiller.
    predict_teacher`; its own ``test_cfg``), on at most ``num_batches``
    validation batches taken evenly over the set (the whole set when it is
    that small), and the run's ``val_evaluator`` scores it (mmdet's
    ``CocoMetric``, mmseg's ``IoUMetric``, mmkd's ``Accuracy`` and
    ``RMSE``). The student as it starts (an untrained model of its
    architecture, when the run starts from scratch) is scored on the same
    images. The log states each number; one warning per teacher, with the
    numbers and the likely causes, when (:class:`~mmkd.evaluation.
    teacher_verdict.TeacherVerdict`) it is below the teacher number of the
    config's metafile entry by more than ``margin``, or has gone less than
    ``min_progress`` of the way from the untrained student to a perfect
    score. It never stops the run. The numbers go into the run's scalars
    (``teacher_check/teacher/<metric>``, ``teacher_check/teacher.<name>/
    ...``, ``teacher_check/untrained_student/...``) and
    ``<work_dir>/<timestamp>/teacher_check.json``.

    Rank 0 checks, the other processes go on (they wait for it at the
    first gradient reduction). Random states are restored afterwards: the
    check shifts no random stream. A run without validation data skips it
    with one line.

    Every run of a distiller gets this hook
    (:data:`~mmkd.engine.distill_hooks.DISTILL_HOOKS`); a config sets its
    arguments with ``teacher_check=dict(...)`` (e.g. ``--cfg-options
    teacher_check.enable=False`` turns it off).

    Args:
        enable (bool): run the check. Defaults to True.
        num_batches (int): the most validation batches evaluated.
            Defaults to 50.
        margin (float): how far below the published teacher number (as a
            fraction of it) a teacher may score without a warning.
            Defaults to 0.25.
        min_progress (float): the share of the way from the untrained
            student to a perfect score a teacher must have gone. Defaults
            to 0.1.
        metric (str, optional): the metric key to judge by. Defaults to the
            metafile entry's, else the first known one the evaluator
            reports (``coco/bbox_mAP``, ``mIoU``, ``accuracy/top1``,
            ``rmse``, ...).
        config_dir (str, optional): the folder of the metafiles. Defaults
            to mmkd's configs.
    """
    priority = 'VERY_LOW'  # after the pre-flight check (same priority)

    def __init__(self, enable: bool = True, num_batches: int = 50,
                 margin: float = 0.25, min_progress: float = 0.1,
                 metric: Optional[str] = None,
                 config_dir: Optional[str] = None) -> None:
        if not isinstance(num_batches, int) or num_batches < 1:
            raise ValueError(f'teacher_check: num_batches={num_batches!r} '
                             'must be a positive integer')
        if not 0 <= margin < 1 or not 0 <= min_progress <= 1:
            raise ValueError(
                f'teacher_check: margin={margin!r} must be in [0, 1) and '
                f'min_progress={min_progress!r} in [0, 1]')
        self.enable = enable
        self.num_batches = num_batches
        self.margin = margin
        self.min_progress = min_progress
        self.metric = metric
        self.config_dir = config_dir
        #: what the check found (None until it ran), as written to the file
        self.result: Optional[dict] = None
        #: the warnings it gave
        self.warnings: List[str] = []

    def before_train(self, runner) -> None:
        if not is_distiller(runner.model) or runner.rank != 0:
            return
        if not self.enable:
            runner.logger.info('Teacher check: off (teacher_check.enable='
                               'False)')
            return
        loop = runner.val_loop
        if loop is None or getattr(loop, 'dataloader', None) is None:
            runner.logger.info(
                'Teacher check: skipped, the config has no validation data '
                '(val_dataloader, val_cfg and val_evaluator)')
            return
        start = time.perf_counter()
        try:
            with preserved_rng_state():
                self.result = self.check(runner,
                                         ValSubset(loop, self.num_batches))
        except Exception as exc:  # the check must never stop a run
            message = (f'Teacher check: could not evaluate the teacher(s): '
                       f'{type(exc).__name__}: {exc}. The run goes on '
                       'unchecked (--cfg-options teacher_check.enable=False '
                       'skips the check).')
            self.warnings.append(message)
            runner.logger.log(logging.WARNING, message)
            return
        self.result['seconds'] = round(time.perf_counter() - start, 3)
        runner.logger.info(f'Teacher check: took {self.result["seconds"]:.1f}'
                           f' s ({self.result["images"]})')
        self.save(runner)

    # ---------------------------------------------------------------- check
    def check(self, runner, subset: ValSubset) -> dict:
        """Evaluate the teachers (and the untrained student) on ``subset``;
        log and return what was found."""
        model = unwrap_model(runner.model)
        entry = self.recipe(runner)
        was_training = model.training
        model.eval()
        try:
            with self.precision_context(runner, model):
                measured = {
                    name:
                    subset.evaluate(
                        runner, lambda b, n=name: model.predict_teacher(n, b))
                    for name in model.teacher_models()
                }
            baseline = None
            if self.student_untrained(runner):
                with torch.no_grad():
                    baseline = subset.evaluate(runner, model.val_step)
        finally:
            model.train(was_training)
        preferred = [self.metric, entry.metric_key if entry else None]
        # a model that predicts nothing gets no values from some metrics
        # (mmdet's CocoMetric): judge by what another model got
        scored = [m for m in list(measured.values()) + [baseline] if m]
        key = primary_metric(scored[0], preferred) if scored else next(
            (k for k in preferred if k), 'the metric')
        best, lower = metric_scale(key)
        if entry is not None and entry.metric_key == key:
            lower = entry.lower_is_better
        images = subset.describe()
        result = dict(metric=key, images=images, whole=subset.whole,
                      teachers={}, untrained_student=baseline,
                      recipe=entry.config if entry else None)
        if baseline is None:
            runner.logger.info(
                'Teacher check: the student has trained (resumed or '
                'load_from): no untrained model to compare with')
        else:
            runner.logger.info(f'Teacher check: the untrained student '
                               f'scores {key} = {baseline.get(key)}')
        classes = subset.dataset.metainfo.get('classes')
        for name, metrics in measured.items():
            published, source, block = self.published(entry, key, name, runner)
            verdict = TeacherVerdict(
                who=teacher_label(name), key=key,
                value=float(metrics.get(key, float('nan'))),
                lower_is_better=bool(lower), best=best,
                baseline=None if baseline is None else baseline.get(key),
                published=published, published_source=source,
                margin=self.margin, min_progress=self.min_progress)
            reasons = verdict.reasons()
            runner.logger.info(
                f'Teacher check: {verdict.who} scores {key} = '
                f'{verdict.value:.4g} on {images} (the run\'s validation '
                'pipeline and metric; all: ' + ', '.join(
                    f'{k}={v:.4g}' if isinstance(v, float) else f'{k}={v}'
                    for k, v in metrics.items()) + ')' +
                (f'; {source}: {published:.4g}'
                 if published is not None else ''))
            if reasons:
                message = warning_message(verdict, reasons, images, classes)
                self.warnings.append(message)
                runner.logger.log(logging.WARNING, message)
            result['teachers'][scalar_name(name)] = dict(
                metrics=metrics, published=published, published_by=block,
                warned=bool(reasons), reasons=reasons)
        return result

    @staticmethod
    def student_untrained(runner) -> bool:
        """Whether the student starts from its initialisation (no resume,
        no ``load_from``)."""
        return runner.iter == 0 and not runner.cfg.get('load_from')

    @staticmethod
    def precision_context(runner, model):
        """The autocast training runs in (``--amp``): the teachers run in
        it as in training (their ``precision='auto'``)."""
        wrapper = getattr(runner, 'optim_wrapper', None)
        try:
            return wrapper.optim_context(model)
        except (AttributeError, NotImplementedError):  # none, or a dict
            return nullcontext()

    # ------------------------------------------------------------ metafile
    def recipe(self, runner) -> Optional[RecipeEntry]:
        try:
            return find_recipe(
                getattr(runner.cfg, 'filename', None), self.config_dir)
        except Exception as exc:  # a bad metafile must not stop training
            runner.logger.warning(
                f'Teacher check: could not read the metafiles: {exc}')
            return None

    @staticmethod
    def published(entry: Optional[RecipeEntry], key: str, name: Optional[str],
                  runner):
        """``(number in the logged units, where it is from, the name of
        the metafile's teacher)`` of teacher ``name`` in the metafile entry
        (matched by its config file name, else by position); ``(None, '',
        None)`` when there is none."""
        none = None, '', None
        if entry is None or entry.metric_key != key or not entry.teachers:
            return none
        block = entry.teachers[0]
        if name is not None:
            spec = (runner.cfg.model.get('teachers') or {}).get(name, {})
            config = osp.basename(str(spec.get('config', '')))
            names = list(runner.cfg.model.get('teachers') or {})
            by_config = [
                t for t in entry.teachers
                if config and osp.basename(str(t.get('Config'))) == config
            ]
            if by_config:
                block = by_config[0]
            elif names.index(name) < len(entry.teachers):
                block = entry.teachers[names.index(name)]
            else:
                return none
        value = entry.value_of(block)
        if value is None:
            return none
        return value / entry.scale, (
            f'the {entry.status} {entry.metric} {value:g} of '
            f'{block.get("Name", "the teacher")} '
            f'(configs/{osp.dirname(entry.config)}/metafile.yml)'
        ), block.get('Name')

    # -------------------------------------------------------------- output
    def save(self, runner) -> None:
        """The numbers into the run's scalars and the work dir."""
        scalars = {}
        for who, found in self.result['teachers'].items():
            for k, v in found['metrics'].items():
                if isinstance(v, (int, float)):
                    scalars[f'{SCALAR_PREFIX}{who}/{k}'] = v
        for k, v in (self.result['untrained_student'] or {}).items():
            if isinstance(v, (int, float)):
                scalars[f'{SCALAR_PREFIX}untrained_student/{k}'] = v
        runner.visualizer.add_scalars(scalars, step=runner.iter)
        path = osp.join(runner.log_dir, RESULT_FILE)
        with open(path, 'w') as f:
            json.dump(self.result, f, indent=2, default=str)


def read_result(run_dir: str) -> Optional[Dict]:
    """The check's result of a run (``<work_dir>/<timestamp>``), None when
    it did not run there."""
    path = osp.join(run_dir, RESULT_FILE)
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)
