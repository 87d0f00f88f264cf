# Copyright (c) mmkd contributors. All rights reserved.
"""Feed a teacher module the input the same-named student module got."""
from contextlib import contextmanager
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
from torch import Tensor

from .recorder import get_module, map_tensors

RELAY_KEYS = ('module', 'arg')
ArgKey = Union[int, str]


def parse_relay_spec(spec, where: str) -> Tuple[str, ArgKey]:
    """``dict(module=PATH, arg=INDEX_OR_NAME)`` -> ``(PATH, arg)``, with a
    clear error for anything else."""
    example = ("e.g. teacher_input_from_student=dict("
               "module='roi_head.bbox_roi_extractor', arg=1)")
    if not isinstance(spec, dict) or set(spec) != set(RELAY_KEYS):
        raise ValueError(f'{where}: teacher_input_from_student must be a '
                         f'dict with exactly the keys {RELAY_KEYS}, '
                         f'{example}; got {spec!r}')
    path, arg = spec['module'], spec['arg']
    if not isinstance(path, str) or not path:
        raise ValueError(f'{where}: teacher_input_from_student.module must '
                         f'be a dotted module path, {example}; got {path!r}')
    if isinstance(arg,
                  bool) or not ((isinstance(arg, int) and arg >= 0) or
                                (isinstance(arg, str) and arg.isidentifier())):
        raise ValueError(
            f'{where}: teacher_input_from_student.arg must be the index '
            '(int >= 0) of a positional argument of the module\'s forward or '
            f'the name of a keyword argument, {example}; got {arg!r}')
    return path, arg


def _param_dtype(module: nn.Module) -> Optional[torch.dtype]:
    """The dtype of ``module``'s first floating-point parameter (None:
    it has none)."""
    for param in module.parameters():
        if param.is_floating_point():
            return param.dtype
    return None


class StudentInputRelay:
    """Replaces one argument of teacher modules by what the same-named
    student modules received in the student's pass over the same batch.

    Used so that both models describe the same things, e.g. the teacher's
    box head run on the student's *sampled* RoIs (LSH feature mimicking on
    Faster R-CNN, Wang et al. arXiv 2011.01424)::

        relay = StudentInputRelay(student, teacher,
                                  {'roi_head.bbox_roi_extractor': 1})
        with relay.recording(inputs):
            student(inputs, data_samples, mode='loss')
        with relay.feeding(inputs):
            teacher(inputs, data_samples, mode='tensor')

    The k-th call of a teacher module gets the argument of the k-th call of
    the student module. The recorded values are dropped when
    :meth:`feeding` ends (and when a new recording starts): they are used
    for one teacher pass over the batch they were recorded on only.

    A relayed floating-point tensor reaches the teacher in the teacher's
    compute dtype: where autocast is off at the teacher module's call (a
    fp32 run, or ``teacher_exec`` precision ``'fp32'`` inside ``--amp``)
    it is cast to the dtype of the teacher's parameters (the module's own,
    else the teacher's first), since the student may have produced it in
    half precision under its autocast; under autocast it is passed as the
    student produced it (in the same autocast), the ops casting it.

    Args:
        student (nn.Module): the student.
        teacher (nn.Module): the teacher.
        specs (dict): ``{module path: argument}`` where the argument is the
            positional index (int) or keyword name (str) in the module's
            ``forward`` call.
    """

    def __init__(self, student: nn.Module, teacher: nn.Module,
                 specs: Dict[str, ArgKey]) -> None:
        self.specs = dict(specs)
        self.recorded: Dict[str, List] = {p: [] for p in self.specs}
        self._batch = None  # the inputs the recording belongs to
        self._recording = False
        self._feeding = False
        self._fed: Dict[str, int] = {}
        self._handles = []
        self._teacher = teacher  # its dtype, read at each teacher pass
        for path, arg in self.specs.items():
            s_mod = get_module(student, path, 'student')
            t_mod = get_module(teacher, path, 'teacher')
            self._handles.append(
                s_mod.register_forward_pre_hook(
                    self._record_hook(path, arg), with_kwargs=True))
            self._handles.append(
                t_mod.register_forward_pre_hook(
                    self._feed_hook(path, arg), with_kwargs=True))

    def __bool__(self) -> bool:
        return bool(self.specs)

    @staticmethod
    def _describe(path: str, arg: ArgKey) -> str:
        kind = 'positional argument' if isinstance(arg, int) else 'keyword ' \
            'argument'
        return f'{kind} {arg!r} of {path!r}'

    def _get(self, path: str, arg: ArgKey, args: tuple, kwargs: dict,
             role: str):
        if isinstance(arg, int) and arg < len(args):
            return args[arg]
        if isinstance(arg, str) and arg in kwargs:
            return kwargs[arg]
        raise RuntimeError(
            f'teacher_input_from_student: the {role} called {path!r} with '
            f'{len(args)} positional argument(s) and keywords '
            f'{sorted(kwargs)}, so it has no {self._describe(path, arg)}; '
            'fix `arg` (an int counts the positional arguments after '
            '`self`, a str names a keyword argument)')

    def _record_hook(self, path: str, arg: ArgKey):

        def hook(module, args, kwargs):
            if self._recording:
                value = self._get(path, arg, args, kwargs, 'student')
                if isinstance(value, Tensor):
                    value = value.detach()
                self.recorded[path].append(value)

        return hook

    def _feed_hook(self, path: str, arg: ArgKey):

        def hook(module, args, kwargs):
            if not self._feeding:
                return None
            call = self._fed[path]
            recorded = self.recorded[path]
            if call >= len(recorded):
                raise RuntimeError(
                    f'teacher_input_from_student: the teacher calls {path!r} '
                    f'more often ({call + 1}+ times) than the student did '
                    f'({len(recorded)}) in this pass, so call {call + 1} has '
                    'no student input; the two models must call the module '
                    'the same way (same architecture of that part)')
            self._fed[path] = call + 1
            self._get(path, arg, args, kwargs, 'teacher')  # validates
            value = self._in_compute_dtype(module, recorded[call])
            if isinstance(arg, int):
                args = args[:arg] + (value, ) + args[arg + 1:]
            else:
                kwargs = dict(kwargs, **{arg: value})
            return args, kwargs

        return hook

    def _in_compute_dtype(self, module: nn.Module, value):
        """``value`` with each floating tensor in the teacher's compute
        dtype where autocast is off (see the class doc)."""
        dtype = _param_dtype(module) or _param_dtype(self._teacher)
        if dtype is None:
            return value

        def cast(t: Tensor) -> Tensor:
            if t.is_floating_point() and t.dtype != dtype and \
                    not torch.is_autocast_enabled(t.device.type):
                return t.to(dtype)
            return t

        return map_tensors(value, cast)

    def _clear(self) -> None:
        for values in self.recorded.values():
            values.clear()
        self._batch = None

    def has_recording_for(self, batch) -> bool:
        """Whether the student's inputs recorded last belong to ``batch``
        (the very object passed to :meth:`recording`)."""
        return self._batch is not None and self._batch is batch

    @contextmanager
    def recording(self, batch):
        """Record the student modules' arguments during the student pass on
        ``batch``. Kept only if the pass ends without error."""
        if not self:
            yield
            return
        self._clear()
        self._recording = True
        try:
            yield
        except BaseException:
            self._clear()
            raise
        finally:
            self._recording = False
        self._batch = batch

    @contextmanager
    def feeding(self, batch):
        """Replace the teacher modules' arguments by the student's recorded
        on ``batch``; the recording is dropped afterwards."""
        if not self:
            yield
            return
        if not self.has_recording_for(batch):
            raise RuntimeError(
                'teacher_input_from_student: the student has not run on this '
                'batch yet; run it first (inside `recording(batch)`)')
        missing = [p for p, v in self.recorded.items() if not v]
        if missing:
            self._clear()
            raise RuntimeError(
                f'teacher_input_from_student: the student never called '
                f'{missing} in its pass, so there is nothing to give the '
                'teacher; the module must run in the student\'s loss mode')
        self._fed = {p: 0 for p in self.specs}
        self._feeding = True
        try:
            yield
        finally:
            self._feeding = False
            self._clear()

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


def collect_relay_specs(entries, where: str = 'distill') -> Dict[str, ArgKey]:
    """The ``{module: arg}`` of all entries' ``teacher_input_from_student``
    (entries naming the same module must name the same argument)."""
    specs: Dict[str, ArgKey] = {}
    owner: Dict[str, str] = {}
    for entry in entries:
        spec: Optional[Tuple[str, ArgKey]] = entry.teacher_input_from_student
        if spec is None:
            continue
        path, arg = spec
        if path in specs and specs[path] != arg:
            raise ValueError(
                f'{where}: entries {owner[path]!r} and {entry.name!r} give '
                f'teacher_input_from_student for {path!r} with different '
                f'arguments ({specs[path]!r} vs {arg!r}); the teacher runs '
                'once for all entries, so they must agree')
        specs[path] = arg
        owner.setdefault(path, entry.name)
    return specs
