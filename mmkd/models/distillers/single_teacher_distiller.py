# Copyright (c) mmkd contributors. All rights reserved.
"""Distil one teacher into one student, both unmodified OpenMMLab models."""
import copy
from functools import partial
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmengine.config import ConfigDict
from mmengine.logging import print_log
from torch import Tensor

from mmkd.models.heads.linear_cls_head import gt_labels
from mmkd.models.recording.input_relay import (StudentInputRelay,
                                               collect_relay_specs)
from mmkd.models.recording.recorder import ModuleOutputRecorder
from mmkd.models.teacher.teacher_execution import TeacherExecution
from mmkd.models.teacher.teacher_view import TeacherView
from mmkd.registry import MODELS
from .base import BaseDistiller
from .distill_entry import as_dtype, check_logit_levels, entry_cfgs
from .entry_builder import build_entry, setup_entry

DISTILL_PREFIX = 'distill_entries.'


def labels_from_data_samples(data_samples) -> Tensor:
    """Class labels (B,) from classification data samples (``gt_label``),
    taken once per batch for every loss with ``needs_labels``."""
    if not data_samples or not hasattr(data_samples[0], 'gt_label'):
        raise ValueError('a logit loss (or any loss with needs_labels) '
                         'needs class labels: the data samples must carry '
                         '`gt_label` (classification data)')
    return gt_labels(data_samples)


@MODELS.register_module()
class SingleTeacherDistiller(BaseDistiller):
    """Knowledge distillation from one frozen teacher into a student.

    Forward hooks record the outputs of the named modules of both models; each
    entry of ``distill`` applies its loss to them (level by level for tuple
    outputs such as FPN levels, call by call for shared heads). Neither
    model's code is changed. The student runs first, then the teacher on the
    same batch; an entry's ``teacher_input_from_student`` makes a teacher
    module take one argument from the student's pass (e.g. the teacher's box
    head runs on the student's sampled RoIs; see
    :class:`~mmkd.models.recording.input_relay.StudentInputRelay`).

    The teacher (see :class:`BaseDistiller`: built from its own config,
    loaded strictly, frozen, outside the module tree) runs in eval mode
    under ``no_grad`` with the execution options ``teacher_exec``. Its
    forward stops as soon as the deepest distilled module has produced its
    last output (counted on the first batch), so e.g. no head runs when only
    the neck is distilled. Recordings hold each module's output as it was
    produced, whatever runs after it (see :class:`ModuleOutputRecorder`).

    A teacher whose ``data_preprocessor`` normalises differently (mean/std,
    channel order) gets the student's batch re-normalised for it, exactly
    (:class:`~mmkd.models.teacher.teacher_view.TeacherView`; the log says
    what the teacher sees).

    The distillation-only parameters (connectors, learnable loss parts) are
    under ``distill_entries.`` in the ``state_dict``, beside the plain
    student's keys.

    Args:
        student (dict): the student model config (e.g. ``_base_.model``).
        teacher (dict): ``dict(config=..., checkpoint=...)`` or
            ``dict(model=..., checkpoint=...)``; see
            :func:`~mmkd.models.teacher.teacher.build_teacher`.
        distill (dict[str, dict] | list[dict]): the entries
            ``dict(student=PATH, teacher=PATH, loss=LOSS_CFG, [connector,
            student_index, teacher_index, num_levels, level_weights,
            teacher_logits, teacher_input_from_student, act_cfg])``, keyed
            by name (a config then overrides one entry of its base, e.g.
            ``model=dict(distill=dict(neck=dict(loss=...)))``; ``None``
            drops an entry of the base) or as a list (names from ``name``
            or the module paths).
        teacher_forward_mode (str): mode of the teacher's forward.
            Defaults to ``'tensor'`` (network outputs, no post-processing).
        teacher_early_stop (bool): cut the teacher's forward after the
            deepest recorded module. Defaults to True.
        check_finite (bool): stop if a distillation loss is NaN/Inf: the
            pre-flight check names the entry and the level, and in training
            :class:`~mmkd.engine.hooks.NonFiniteLossHook` stops every rank
            with one message (in an fp16 run the loss scaler first skips
            such steps). Defaults to True.
        teacher_exec (dict, optional): how the teacher's forward runs,
            ``dict(memory_format='auto' | 'contiguous' | 'channels_last',
            fold_batchnorm=True | False, prepack=True | False,
            compile=False | True, precision='auto' | 'fp32' | 'fp16' |
            'bf16')``;
            see :class:`~mmkd.models.teacher.teacher_execution.
            TeacherExecution`. Defaults to channels-last for convolutional
            teachers, BatchNorms folded into their convolutions, weights
            prepacked for oneDNN on the CPU, eager, in the run's precision
            (fp32, or half under ``--amp``).
    """

    DISTILL_STATE_PREFIXES = (DISTILL_PREFIX, )

    def __init__(self, student: Union[dict, ConfigDict],
                 teacher: Union[dict, ConfigDict], distill: Union[Dict[str,
                                                                       dict],
                                                                  List[dict]],
                 teacher_forward_mode: str = 'tensor',
                 teacher_early_stop: bool = True, check_finite: bool = True,
                 teacher_exec: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        student_model = MODELS.build(student)
        # The student's own data_preprocessor is used. A top-level
        # `data_preprocessor` (mmengine's Runner passes one in, e.g. from
        # mmseg configs) was already merged into the student's config.
        del data_preprocessor
        super().__init__(data_preprocessor=student_model.data_preprocessor,
                         init_cfg=init_cfg)
        self.student = student_model
        teacher_model = self.init_teacher(teacher)
        self.teacher_exec = TeacherExecution.from_cfg(teacher_exec)
        self.teacher_view = TeacherView.between(
            self.student.data_preprocessor,
            getattr(teacher_model, 'data_preprocessor', None))
        print_log(self.teacher_view.describe(), logger='current')
        distill = entry_cfgs(distill)
        if not distill:
            raise ValueError('`distill` is empty: add at least one entry '
                             'dict(student=..., teacher=..., loss=...)')
        self.distill_entries = nn.ModuleList(
            build_entry(cfg, i) for i, cfg in enumerate(distill))
        names = [e.name for e in self.distill_entries]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f'distill entry names {dup} are repeated; give '
                             'each entry a unique `name`')
        for entry in self.distill_entries:
            setup_entry(entry, self.student, teacher_model)
        self.teacher_forward_mode = teacher_forward_mode
        self.check_finite = check_finite
        self._level_losses: Dict[str, Tensor] = {}
        self.student_recorder = ModuleOutputRecorder(self.student, [
            p for e in self.distill_entries for p in e.student_record_paths()
        ], role='student')
        teacher_paths = [
            p for e in self.distill_entries for p in e.teacher_record_paths()
        ]
        relay_specs = collect_relay_specs(self.distill_entries)
        # the relay's pre-hooks replace an argument before the layout
        # boundary's forward (prepare()) makes it contiguous
        self.input_relay = StudentInputRelay(self.student, teacher_model,
                                             relay_specs)
        self.teacher_exec.prepare(teacher_model, keep=teacher_paths,
                                  relayed=relay_specs)
        self.teacher_recorder = ModuleOutputRecorder(
            teacher_model, teacher_paths, role='teacher',
            stop_after_all=teacher_early_stop)

    # -------------------------------------------------------------- forward
    def forward(self, inputs, data_samples=None, mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        return self.student(inputs, data_samples, mode)

    def teacher_outputs(self, inputs, data_samples) -> Dict[str, list]:
        """The teacher's recorded outputs on a batch (under ``no_grad``).

        With ``teacher_input_from_student`` entries the relayed arguments
        come from the student's pass on this very ``inputs`` (run just
        before by :meth:`loss` / :meth:`check_distill`); called on its own
        (e.g. by :class:`~mmkd.engine.hooks.LSHMedianBiasHook`), it first
        runs the student for them (loss mode, eval mode, ``no_grad``).
        """
        with torch.no_grad():
            if self.input_relay and \
                    not self.input_relay.has_recording_for(inputs):
                self._student_pass_for_relay(inputs, data_samples)
            student_param = next(self.student.parameters())
            with self.input_relay.feeding(inputs), \
                    self.teacher_exec.running(student_param.device):
                recorded = self.teacher_recorder.run(
                    self.teacher,
                    self.teacher_exec.inputs(
                        self.teacher_view(inputs, data_samples)), data_samples,
                    mode=self.teacher_forward_mode)
        return self.teacher_exec.outputs(recorded, student_param.dtype)

    def _student_pass_for_relay(self, inputs, data_samples) -> None:
        """Run the student only to record the inputs relayed to the
        teacher; in eval mode, so that no BatchNorm statistics move."""
        was_training = self.student.training
        self.student.eval()
        try:
            with torch.no_grad(), self.input_relay.recording(inputs):
                self.student(inputs, data_samples, mode='loss')
        finally:
            self.student.train(was_training)

    def loss(self, inputs, data_samples=None) -> dict:
        if self.distill_weight <= 0:  # distillation stopped: student only
            return self.student(inputs, data_samples, mode='loss')
        losses = {}

        def student_loss():
            losses.update(self.student(inputs, data_samples, mode='loss'))

        # the student first: the teacher may take inputs from its pass
        with self.input_relay.recording(inputs):
            student_out = self.student_recorder.run(student_loss)
        teacher_out = self.teacher_outputs(inputs, data_samples)
        distill, per_level = self.distill_losses_per_level(
            student_out, teacher_out, data_samples)
        losses.update(distill)
        # no host sync: read only when a logged loss is not finite
        self._level_losses = {
            name: torch.stack([v.detach().reshape(()).float() for v in vals])
            for name, vals in per_level.items()
        }
        return losses

    def last_level_losses(self) -> Dict[str, Tensor]:
        return dict(self._level_losses)

    def distill_losses(self, student_out: Dict[str, list],
                       teacher_out: Dict[str, list],
                       data_samples=None) -> Dict[str, Tensor]:
        """One ``distill.<name>.loss`` per entry (sum over levels, or one
        call on all levels for a ``joint_levels`` loss), plus any scalars
        the losses record (e.g. ``distill.<name>.l0.uncertainty``)."""
        return self.distill_losses_per_level(student_out, teacher_out,
                                             data_samples)[0]

    def distill_losses_per_level(
        self, student_out: Dict[str, list], teacher_out: Dict[str, list],
        data_samples=None
    ) -> Tuple[Dict[str, Tensor], Dict[str, List[Tensor]]]:
        """:meth:`distill_losses` and ``{entry: [unweighted loss per
        level]}``."""
        param = next(self.student.parameters())
        # every loss in the student's dtype, autocast off: no statistic or
        # reduction in half precision under --amp
        with torch.autocast(device_type=param.device.type, enabled=False):
            return self._distill_losses(student_out, teacher_out, data_samples,
                                        param.dtype)

    def _distill_losses(self, student_out: Dict[str, list],
                        teacher_out: Dict[str, list], data_samples,
                        dtype: torch.dtype):
        out: Dict[str, Tensor] = {}
        per_level = {}
        labels = None
        for entry in self.distill_entries:
            if entry.is_head:
                loss, parts = entry.head_loss(student_out, teacher_out,
                                              data_samples, dtype)
                for key, val in parts.items():
                    out[f'distill.{entry.name}.{key}'] = val
                per_level[entry.name] = [loss]
                out[f'distill.{entry.name}.loss'] = self.distill_weight * loss
                continue
            s_levels = as_dtype(entry.student_levels(student_out), dtype)
            t_levels = as_dtype(entry.teacher_levels(teacher_out), dtype)
            if len(s_levels) != len(t_levels):
                pairs = min(len(s_levels), len(t_levels))
                raise ValueError(
                    f'distill entry {entry.name!r}: the student gives '
                    f'{len(s_levels)} levels and the teacher {len(t_levels)}'
                    '; pair them in the entry, student level student_index'
                    '[k] with teacher level teacher_index[k], e.g. '
                    f'student_index={list(range(pairs))}, '
                    f'teacher_index={list(range(pairs))}')
            entry.check_levels(len(s_levels))
            if entry.is_logit:
                check_logit_levels(entry, s_levels, t_levels)
            if entry.needs_labels and labels is None:
                labels = labels_from_data_samples(data_samples)
            t_logits = entry.pick_teacher_logits(teacher_out)
            if entry.joint_levels:
                level_losses = [
                    entry.joint_levels_loss(s_levels, t_levels, data_samples,
                                            t_logits, labels)
                ]
                for key, val in entry.pop_log_vars(0).items():
                    out[f'distill.{entry.name}.{key}'] = val
            else:
                level_losses = []
                for i, (s_feat, t_feat) in enumerate(zip(s_levels, t_levels)):
                    level_losses.append(
                        entry.level_loss(s_feat, t_feat, i, data_samples,
                                         labels, t_logits))
                    for key, val in entry.pop_log_vars(i).items():
                        suffix = f'.l{i}' if len(s_levels) > 1 else ''
                        out[f'distill.{entry.name}{suffix}.{key}'] = val
            per_level[entry.name] = level_losses
            out[f'distill.{entry.name}.loss'] = \
                self.distill_weight * sum(level_losses)
        return out, per_level

    @staticmethod
    def check_finite_levels(per_level: Dict[str, List[Tensor]]) -> None:
        """Raise a FloatingPointError naming the first entry and level
        whose loss in ``per_level`` (``{entry: [loss per level]}``) is not
        finite (one host sync: the pre-flight check calls it; in training
        :class:`~mmkd.engine.hooks.NonFiniteLossHook` checks the logged
        values instead)."""
        flat = [
            v.detach().reshape(()) for vals in per_level.values() for v in vals
        ]
        if not flat or bool(torch.isfinite(torch.stack(flat)).all()):
            return
        for name, vals in per_level.items():
            for i, val in enumerate(vals):
                if not torch.isfinite(val).all():
                    raise FloatingPointError(
                        f'distillation loss of entry {name!r}, level {i} is '
                        f'{val.item()}: lower the loss weight or learning '
                        'rate, or check the features (e.g. add a connector '
                        'with a norm layer).')

    # --------------------------------------------------------------- checks
    def check_distill_batch(self, batch) -> Dict[str, list]:
        """:meth:`check_distill` on a collated batch (preprocessed here)."""
        data = self.data_preprocessor(batch, True)
        return self.check_distill(data['inputs'], data['data_samples'])

    def check_teacher_layout(self, batch) -> Dict[str, str]:
        """:meth:`TeacherExecution.check_layout` on a collated batch: the
        recorded teacher outputs against the NCHW teacher's."""
        data = self.data_preprocessor(batch, True)
        return self.teacher_exec.check_layout(
            self.teacher,
            partial(self.teacher_outputs, data['inputs'],
                    data['data_samples']))

    def keep_teacher_nchw(self, boundaries: Dict[str, str]) -> None:
        self.teacher_exec.keep_nchw(self.teacher, boundaries, warn=True)

    def check_distill(self, inputs, data_samples=None) -> Dict[str, list]:
        """Run student and teacher once and validate every entry (levels,
        shapes, connectors, loss inputs) before training starts. Returns the
        shapes per entry."""
        was_training = self.training
        rng_state = torch.get_rng_state()
        entry_state = copy.deepcopy(self.distill_entries.state_dict())
        # the student runs as in training (train mode: heads such as
        # RepPoints' return other outputs in eval mode; loss mode, first);
        # its buffers (BatchNorm statistics) are put back afterwards
        student_buffers = [(b, b.clone()) for b in self.student.buffers()]
        self.eval()
        self.student.train(was_training)
        try:
            with torch.no_grad():
                with self.input_relay.recording(inputs):
                    student_out = self.student_recorder.run(
                        self.student, inputs, data_samples, mode='loss')
                teacher_out = self.teacher_outputs(inputs, data_samples)
                _, per_level = self.distill_losses_per_level(
                    student_out, teacher_out, data_samples)
                if self.check_finite:
                    self.check_finite_levels(per_level)
        finally:
            self.train(was_training)
            with torch.no_grad():
                for buffer, saved in student_buffers:
                    buffer.copy_(saved)
            # leave no trace: the check must not shift any random stream
            torch.set_rng_state(rng_state)
            self.distill_entries.load_state_dict(entry_state)
        return {
            entry.name: entry.teacher_shapes(teacher_out)
            for entry in self.distill_entries
        }
