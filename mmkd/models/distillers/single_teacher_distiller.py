# Copyright (c) mmkd contributors. All rights reserved.
"""Distil one teacher into one student, both unmodified OpenMMLab models."""
import copy
from contextlib import ExitStack
from functools import partial
from typing import Dict, Iterator, List, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmengine.config import ConfigDict
from torch import Tensor

from mmkd.models.recording.input_relay import (StudentInputRelay,
                                               collect_relay_specs)
from mmkd.models.recording.recorder import ModuleOutputRecorder
from mmkd.models.teacher.teacher_execution import TeacherExecution
from mmkd.models.teacher.teacher_view import TeacherView
from mmkd.registry import MODELS
from .base import BaseDistiller
from .batch_losses import BatchLosses, check_finite_levels
from .entry_builder import build_entry, setup_entry
from .entry_config import entry_cfgs
from .teacher_slot import TeacherSlot, own_path, split_teacher_spec

DISTILL_PREFIX = 'distill_entries.'


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
            :func:`~mmkd.models.teacher.teacher.build_teacher`. Optionally
            ``input_size=(H, W)``: the batch is resized to it for the
            teacher (:class:`~mmkd.models.teacher.teacher_view.TeacherView`).
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
        self.build_student(student, data_preprocessor, init_cfg)
        spec, run = split_teacher_spec(teacher)
        self.init_teacher(spec)
        self.setup_distill({None: run}, distill, teacher_forward_mode,
                           teacher_early_stop, check_finite, teacher_exec)

    # ---------------------------------------------------------------- build
    def build_student(self, student: Union[dict, ConfigDict],
                      data_preprocessor: Optional[dict],
                      init_cfg: Optional[dict]) -> None:
        """Build the student; its own data_preprocessor is the distiller's.
        A top-level ``data_preprocessor`` (mmengine's Runner passes one in,
        e.g. from mmseg configs) was already merged into the student's
        config."""
        student_model = MODELS.build(student)
        del data_preprocessor
        super().__init__(data_preprocessor=student_model.data_preprocessor,
                         init_cfg=init_cfg)
        self.student = student_model

    def teacher_of(self, path: str, where: str) -> Optional[str]:
        """The name of the teacher an entry's module path belongs to."""
        return None

    def setup_distill(self, runs: Dict[Optional[str], dict], distill,
                      forward_mode: str, early_stop: bool, check_finite: bool,
                      teacher_exec: Optional[dict]) -> None:
        """Build the distill entries, bind them to the models and give each
        teacher (``runs``: ``{name: its run options}``, see
        :func:`split_teacher_spec`) its :class:`TeacherSlot`: what it
        records, its view of the batch, how it runs (``teacher_exec``, then
        the teacher's own ``teacher_exec`` keys)."""
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
        reads = {name: [] for name in runs}
        for entry in self.distill_entries:
            where = f'distill entry {entry.name!r}'
            named = entry.teacher_paths + ([entry.teacher_logits_path] if
                                           entry.teacher_logits_path else [])
            owners = {self.teacher_of(path, where) for path in named}
            if len(owners) > 1 and entry.ensemble is None:
                raise ValueError(
                    f'{where} reads the modules {named} of different '
                    'teachers; an entry reads one teacher (its '
                    'teacher_logits too), or lists the same module of '
                    'several in `teacher` (an ensemble)')
            setup_entry(entry, self.student, self.teacher)
            for path in entry.teacher_record_paths():
                reads[self.teacher_of(path, where)].append((entry, path))
        unread = [name for name, paths in reads.items() if not paths]
        if unread and None not in unread:
            raise ValueError(
                f'teachers {unread} are read by no distill entry: add an '
                "entry (teacher='<name>.<module>') or remove them from "
                '`teachers`')
        self.teacher_forward_mode = forward_mode
        self.check_finite = check_finite
        self._level_losses: Dict[str, Tensor] = {}
        self.student_recorder = ModuleOutputRecorder(self.student, [
            p for e in self.distill_entries for p in e.student_record_paths()
        ], role='student')
        models = self.teacher_models()
        self.teacher_slots: List[TeacherSlot] = []
        for name, run in runs.items():
            exec_cfg = dict(teacher_exec or {}, **run.get('teacher_exec', {}))
            slot_paths = [own_path(name, path) for _, path in reads[name]]
            entries = list({id(e): e for e, _ in reads[name]}.values())
            self.teacher_slots.append(
                TeacherSlot(name, models[name], self.student,
                            list(dict.fromkeys(slot_paths)),
                            collect_relay_specs(entries), exec_cfg or None,
                            run.get('input_size'), forward_mode, early_stop))

    # ------------------------------------------------- the one teacher's
    @property
    def teacher_exec(self) -> TeacherExecution:
        """The (first) teacher's execution options."""
        return self.teacher_slots[0].execution

    @property
    def teacher_view(self) -> TeacherView:
        """The (first) teacher's view of the batch."""
        return self.teacher_slots[0].view

    @property
    def teacher_recorder(self) -> ModuleOutputRecorder:
        return self.teacher_slots[0].recorder

    @property
    def input_relay(self) -> StudentInputRelay:
        return self.teacher_slots[0].relay

    # -------------------------------------------------------------- forward
    def forward(self, inputs, data_samples=None, mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        return self.student(inputs, data_samples, mode)

    def relays_recording(self, inputs):
        """The context in which the student's pass records the inputs
        relayed to every teacher."""
        stack = ExitStack()
        for slot in self.teacher_slots:
            stack.enter_context(slot.relay.recording(inputs))
        return stack

    def teacher_recordings(self, inputs,
                           data_samples) -> Iterator[Dict[str, list]]:
        """Each teacher's recorded outputs on a batch (entry paths), one
        teacher after another, under ``no_grad``: a recording is made when
        asked for, so a caller that drops it before the next keeps one
        teacher's in memory at a time.

        With ``teacher_input_from_student`` entries the relayed arguments
        come from the student's pass on this very ``inputs`` (run just
        before by :meth:`loss` / :meth:`check_distill`); asked for on its
        own (e.g. by :class:`~mmkd.engine.hooks.LSHMedianBiasHook`), it
        first runs the student for them (loss mode, eval mode,
        ``no_grad``)."""
        for slot in self.teacher_slots:
            yield slot.full_paths(
                self.record_teacher(slot, inputs, data_samples))

    def record_teacher(self, slot: TeacherSlot, inputs,
                       data_samples) -> Dict[str, list]:
        """One teacher's recording (its own module paths) on a batch, under
        ``no_grad``; runs the student first if the teacher takes inputs
        from its pass and it has not run on ``inputs``."""
        if slot.relay and not slot.relay.has_recording_for(inputs):
            self._student_pass_for_relay(inputs, data_samples)
        param = next(self.student.parameters())
        with torch.no_grad():
            return slot.record(inputs, data_samples, param.device, param.dtype)

    def predict_teacher(self, name: Optional[str], data: dict) -> list:
        """Teacher ``name``'s predictions on a collated validation batch,
        from the batch as the distiller gives it in training: the
        student's preprocessing (validation mode), the teacher's view of it
        and its execution options (:meth:`TeacherSlot.predict`)."""
        slot = next(s for s in self.teacher_slots if s.name == name)
        data = self.data_preprocessor(data, False)
        param = next(self.student.parameters())
        return slot.predict(data['inputs'], data['data_samples'], param.device)

    def teacher_outputs(self, inputs, data_samples) -> Dict[str, list]:
        """Every teacher's recorded outputs on a batch, keyed by the entries'
        paths (see :meth:`teacher_recordings`)."""
        out = {}
        for recorded in self.teacher_recordings(inputs, data_samples):
            out.update(recorded)
        return out

    def _student_pass_for_relay(self, inputs, data_samples) -> None:
        """Run the student only to record the inputs relayed to the
        teachers; in eval mode, so that no BatchNorm statistics move."""
        was_training = self.student.training
        self.student.eval()
        try:
            with torch.no_grad(), self.relays_recording(inputs):
                self.student(inputs, data_samples, mode='loss')
        finally:
            self.student.train(was_training)

    def loss(self, inputs, data_samples=None) -> dict:
        if self.distill_weight <= 0:  # distillation stopped: student only
            return self.student(inputs, data_samples, mode='loss')
        losses = {}

        def student_loss():
            losses.update(self.student(inputs, data_samples, mode='loss'))

        # the student first: the teachers may take inputs from its pass
        with self.relays_recording(inputs):
            student_out = self.student_recorder.run(student_loss)
        batch = self.batch_losses(student_out, data_samples)
        # each teacher's recording is dropped once its entries are done
        for recorded in self.teacher_recordings(inputs, data_samples):
            batch.add(recorded)
            del recorded
        distill, per_level = batch.result()
        losses.update(distill)
        # no host sync: read only when a logged loss is not finite
        self._level_losses = {
            name: torch.stack([v.detach().reshape(()).float() for v in vals])
            for name, vals in per_level.items()
        }
        return losses

    def last_level_losses(self) -> Dict[str, Tensor]:
        return dict(self._level_losses)

    def batch_losses(self, student_out: Dict[str, list],
                     data_samples=None) -> BatchLosses:
        """The :class:`BatchLosses` of one batch (the student's dtype)."""
        param = next(self.student.parameters())
        return BatchLosses(self.distill_entries, student_out, data_samples,
                           param, self.distill_weight)

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
        level]}`` (``teacher_out``: every teacher's recording)."""
        batch = self.batch_losses(student_out, data_samples)
        batch.add(teacher_out)
        return batch.result()

    # --------------------------------------------------------------- checks
    def check_distill_batch(self, batch) -> Dict[str, list]:
        """:meth:`check_distill` on a collated batch (preprocessed here)."""
        data = self.data_preprocessor(batch, True)
        return self.check_distill(data['inputs'], data['data_samples'])

    def check_teacher_layout(self, batch) -> Dict[str, str]:
        """:meth:`TeacherExecution.check_layout` of each teacher on a
        collated batch: its recorded outputs against the NCHW teacher's.
        Returns ``{module path: reason}`` (entry paths)."""
        data = self.data_preprocessor(batch, True)
        found = {}
        for slot in self.teacher_slots:
            found.update(
                slot.full_paths(
                    slot.check_layout(
                        partial(self.record_teacher, slot, data['inputs'],
                                data['data_samples']))))
        return found

    def keep_teacher_nchw(self, boundaries: Dict[str, str]) -> None:
        for slot in self.teacher_slots:
            own = {
                slot.own_path(path): reason
                for path, reason in boundaries.items()
                if self.teacher_of(path, 'the layout check') == slot.name
            }
            slot.keep_nchw(own)

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
                with self.relays_recording(inputs):
                    student_out = self.student_recorder.run(
                        self.student, inputs, data_samples, mode='loss')
                teacher_out = self.teacher_outputs(inputs, data_samples)
                _, per_level = self.distill_losses_per_level(
                    student_out, teacher_out, data_samples)
                if self.check_finite:
                    check_finite_levels(per_level)
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
