# Copyright (c) mmkd contributors. All rights reserved.
"""One teacher of a distiller with everything that runs it: its execution
options, its view of the batch, the student inputs relayed to it and the
recorder of the modules the entries read."""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.logging import print_log

from mmkd.models.recording.input_relay import StudentInputRelay
from mmkd.models.recording.recorder import ModuleOutputRecorder
from mmkd.models.teacher.teacher_execution import TeacherExecution
from mmkd.models.teacher.teacher_view import TeacherView

#: keys of a teacher spec that say how the distiller runs it (the others
#: build and load it, see :func:`~mmkd.models.teacher.build_teacher`)
RUN_KEYS = ('teacher_exec', 'input_size')


def split_teacher_spec(spec: dict) -> Tuple[dict, dict]:
    """``(build spec, run options)`` of a teacher spec: the keys of
    :data:`RUN_KEYS` go to the second."""
    spec = dict(spec)
    run = {key: spec.pop(key) for key in RUN_KEYS if key in spec}
    return spec, run


def own_path(name: Optional[str], path: str) -> str:
    """An entry's module path of teacher ``name`` as that teacher's model
    names it (``'r101.neck'`` -> ``'neck'``; the unnamed one teacher's
    paths are its own)."""
    return path if name is None else path[len(name) + 1:]


class TeacherSlot:
    """A frozen teacher and how the distiller runs it.

    ``name`` is None for the one teacher of a
    :class:`SingleTeacherDistiller` (entries name its modules as they are,
    ``'neck'``), else the teacher's key in ``teachers`` (entries name its
    modules ``'<name>.neck'``; :meth:`full_path` and :meth:`own_path`
    convert). The slot records ``paths`` (its own module paths) on each
    pass, stopping the forward after the deepest one when ``early_stop``.

    Args:
        name (str, optional): the teacher's name.
        model (nn.Module): the built, loaded and frozen teacher.
        student (nn.Module): the student (its data preprocessor, the
            modules relayed inputs come from).
        paths (list[str]): the teacher's modules to record (own paths).
        relay_specs (dict): ``{module path: argument}`` of the teacher
            modules that take an input from the student's pass.
        exec_cfg (dict, optional): ``teacher_exec`` options
            (:class:`TeacherExecution`).
        input_size (tuple, optional): the ``(H, W)`` the teacher takes
            (:class:`TeacherView`).
        forward_mode (str): the mode of the teacher's forward.
        early_stop (bool): stop the forward after the last recorded
            output.
    """

    def __init__(self, name: Optional[str], model: nn.Module,
                 student: nn.Module, paths: List[str], relay_specs: dict,
                 exec_cfg: Optional[dict] = None,
                 input_size: Optional[Tuple[int, int]] = None,
                 forward_mode: str = 'tensor',
                 early_stop: bool = True) -> None:
        self.name = name
        self.model = model
        self.forward_mode = forward_mode
        self.execution = TeacherExecution.from_cfg(exec_cfg)
        self.view = TeacherView.between(
            student.data_preprocessor, getattr(model, 'data_preprocessor',
                                               None), input_size)
        print_log(self.view.describe(self.role), logger='current')
        # the relay's pre-hooks replace an argument before the layout
        # boundary's forward (prepare()) makes it contiguous
        self.relay = StudentInputRelay(student, model, relay_specs)
        self.execution.prepare(model, keep=paths, relayed=relay_specs)
        self.recorder = ModuleOutputRecorder(model, paths, role=self.role,
                                             stop_after_all=early_stop)

    @property
    def role(self) -> str:
        """How messages name this teacher."""
        return 'teacher' if self.name is None else f'teacher {self.name!r}'

    def full_path(self, path: str) -> str:
        """An own module path as the distill entries write it."""
        return path if self.name is None else f'{self.name}.{path}'

    def own_path(self, path: str) -> str:
        """An entry's module path (of this teacher) as the model names
        it."""
        return own_path(self.name, path)

    def full_paths(self, recorded: Dict[str, object]) -> Dict[str, object]:
        """A ``{own path: value}`` dict keyed by the entries' paths."""
        if self.name is None:
            return recorded
        return {self.full_path(k): v for k, v in recorded.items()}

    def record(self, inputs, data_samples, device: torch.device,
               dtype: torch.dtype) -> Dict[str, list]:
        """The teacher's recorded outputs (own paths) on the student's
        batch, seen the teacher's way, run with its execution options
        (``no_grad``), in ``dtype``. The relayed inputs must have been
        recorded from the student's pass on ``inputs``."""
        with self.relay.feeding(inputs), self.execution.running(device):
            recorded = self.recorder.run(
                self.model,
                self.execution.inputs(self.view(inputs, data_samples)),
                data_samples, mode=self.forward_mode)
        return self.execution.outputs(recorded, dtype)

    def predict(self, inputs, data_samples, device: torch.device) -> list:
        """The teacher's ``predict``-mode output on the student's
        preprocessed batch, seen the teacher's way (with an ``input_size``
        the samples' geometry is scaled with the batch,
        :meth:`TeacherView.samples_for`), run with its execution options
        (``no_grad``). No module is recorded."""
        samples = self.view.samples_for(data_samples, inputs)
        with self.execution.running(device):
            return self.model(
                self.execution.inputs(self.view(inputs, data_samples)),
                samples, mode='predict')

    def check_layout(self, run) -> Dict[str, str]:
        """:meth:`TeacherExecution.check_layout` (``run()`` returns this
        teacher's recording, own paths)."""
        return self.execution.check_layout(self.model, run)

    def keep_nchw(self, boundaries: Dict[str, str]) -> None:
        """Keep the modules ``{own path: reason}`` NCHW, with a warning."""
        self.execution.keep_nchw(self.model, boundaries, warn=True)
