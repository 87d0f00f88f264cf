# Copyright (c) mmkd contributors. All rights reserved.
"""A distill entry on a dense detection head (a head loss: CrossKD,
prediction mimicking, LD)."""
from typing import Dict, List, Tuple

import torch
import torch.nn as nn
from torch import Tensor

from mmkd.models.losses.head_loss_base import BaseHeadLoss
from mmkd.models.recording.recorder import get_module, map_tensors
from mmkd.registry import MODELS

#: what a head entry takes; the level keys of a feature entry do not apply
HEAD_ENTRY_KEYS = {'name', 'student', 'teacher', 'loss', 'connector'}


def is_head_loss_cfg(cfg: dict) -> bool:
    """Whether a loss config builds a :class:`BaseHeadLoss`."""
    loss_type = cfg.get('type') if isinstance(cfg, dict) else None
    if not isinstance(loss_type, str):
        return isinstance(loss_type, type) and issubclass(
            loss_type, BaseHeadLoss)
    cls = MODELS.get(loss_type)
    return isinstance(cls, type) and issubclass(cls, BaseHeadLoss)


class HeadDistillEntry(nn.Module):
    """One distill entry whose loss is a :class:`BaseHeadLoss`.

    Config keys: ``student`` and ``teacher`` (the paths of the two dense
    heads, e.g. ``'bbox_head'``), ``loss``, optional ``name`` and
    ``connector``: one connector per branch the loss names
    (``connector_branches``; a list gives one config per branch), mapping
    the student's head feature to the teacher's channels, e.g. CrossKD
    between heads 64 and 128 wide:
    ``connector=dict(type='mmkd.ConvConnector', in_channels=64,
    out_channels=128)``.

    The entry records the modules of each head the loss asks for
    (:meth:`BaseHeadLoss.record_paths`) and calls the loss once per batch
    with them.
    """
    #: the distiller calls :meth:`head_loss` instead of the level loop
    is_head = True
    is_logit = False
    ensemble = None
    needs_labels = False
    teacher_logits_path = None
    teacher_input_from_student = None

    def __init__(self, cfg: dict, index: int) -> None:
        super().__init__()
        cfg = dict(cfg)
        self.student_path: str = cfg.get('student', '')
        self.teacher_path: str = cfg.get('teacher', '')
        self.name: str = cfg.get('name', self.student_path or f'head{index}')
        where = f'distill entry {self.name!r}'
        unknown = set(cfg) - HEAD_ENTRY_KEYS
        if unknown:
            raise ValueError(
                f'{where}: {sorted(unknown)} do not apply to a head loss '
                f'(it reads the whole head, all levels at once); allowed: '
                f'{sorted(HEAD_ENTRY_KEYS)}')
        if isinstance(cfg.get('teacher'), (list, tuple)):
            raise ValueError(
                f"{where}: a head loss runs the student's head feature "
                "through one teacher's head; give each teacher its own entry "
                f"(teacher='<name>.<head>'), not the list {cfg['teacher']}")
        for key in ('student', 'teacher'):
            if not cfg.get(key):
                raise ValueError(f"{where} needs `{key}`: the path of the "
                                 f"{key}'s dense head, e.g. 'bbox_head'")
        loss = MODELS.build(cfg['loss'])
        self.losses = nn.ModuleList([loss])
        branches = loss.connector_branches
        conn_cfg = cfg.get('connector')
        self.connectors = None
        if conn_cfg is not None:
            if not branches:
                raise ValueError(f'{where}: {type(loss).__name__} takes no '
                                 'connector; remove `connector`')
            cfgs = conn_cfg if isinstance(conn_cfg, (list, tuple)) else \
                [conn_cfg] * len(branches)
            if len(cfgs) != len(branches):
                raise ValueError(f'{where}: {len(cfgs)} connector configs '
                                 f'for the {len(branches)} branches '
                                 f'{list(branches)}')
            self.connectors = nn.ModuleList(
                MODELS.build(dict(c)) for c in cfgs)

    @property
    def teacher_paths(self) -> List[str]:
        """The teacher module the entry reads (its head), as a list."""
        return [self.teacher_path]

    @property
    def loss(self) -> BaseHeadLoss:
        return self.losses[0]

    def bind_models(self, student: nn.Module, teacher: nn.Module) -> None:
        """Bind the loss to the two heads and check the connectors' widths
        (called once by the distiller)."""
        where = f'distill entry {self.name!r}'
        heads = [
            get_module(model, path, role)
            for model, path, role in ((student, self.student_path, 'student'),
                                      (teacher, self.teacher_path, 'teacher'))
        ]
        self.loss.bind_heads(*heads, where)
        channels = self.loss.connector_channels()
        if channels is None or channels[0] == channels[1] or self.connectors:
            return
        raise ValueError(
            f'{where}: the student head is {channels[0]} channels wide and '
            f"the teacher's {channels[1]}; map the student's feature with a "
            f"connector: connector=dict(type='mmkd.ConvConnector', "
            f'in_channels={channels[0]}, out_channels={channels[1]})')

    def _paths(self, side: str, head: str) -> List[str]:
        return [
            f'{head}.{path}' if path else head
            for path in self.loss.record_paths(side)
        ]

    def student_record_paths(self) -> List[str]:
        return self._paths('student', self.student_path)

    def teacher_record_paths(self) -> List[str]:
        return self._paths('teacher', self.teacher_path)

    def records(self, recorded: dict, side: str,
                dtype: torch.dtype) -> Dict[str, list]:
        """The ``side``'s recordings the loss reads, keyed by their path
        relative to the head, floats in ``dtype``."""
        head = self.student_path if side == 'student' else self.teacher_path

        def cast(t: Tensor) -> Tensor:
            return t.to(dtype) if t.is_floating_point() else t

        return {
            rel: map_tensors(recorded[full], cast)
            for rel, full in zip(
                self.loss.record_paths(side), self._paths(side, head))
        }

    def head_loss(self, student_out: dict, teacher_out: dict, data_samples,
                  dtype: torch.dtype) -> Tuple[Tensor, dict]:
        """The entry's weighted loss on one batch and the parts it logs."""
        connectors = None if self.connectors is None else dict(
            zip(self.loss.connector_branches, self.connectors))
        loss = self.loss(
            self.records(student_out, 'student', dtype),
            self.records(teacher_out, 'teacher', dtype), data_samples,
            connectors)
        return loss, self.loss.pop_log_vars()

    def teacher_shapes(self, teacher_out: dict) -> List[tuple]:
        """Shapes of the teacher's recorded head outputs (for the log)."""
        return [
            tuple(t.shape) for path in self.teacher_record_paths()
            for t in teacher_out[path] if isinstance(t, Tensor)
        ]
