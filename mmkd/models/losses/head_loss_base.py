# Copyright (c) mmkd contributors. All rights reserved.
"""The third family of the loss protocol: losses on a dense detection
head (see :mod:`mmkd.models.losses.base` for the other two).

A head loss's distill entry names the student's and the teacher's dense
heads (``student='bbox_head'``, ``teacher='bbox_head'``). The loss, bound
to both heads when the distiller is built (:meth:`BaseHeadLoss.bind_heads`),
says which modules of each head it needs recorded
(:meth:`BaseHeadLoss.record_paths`, relative to the head), and is called
once per batch with those recordings::

    loss(student_rec, teacher_rec, data_samples, connectors=None) -> Tensor

where ``*_rec`` is ``{relative path: [output per call]}`` (a head shared
over FPN levels is called once per level) and ``connectors`` maps each of
the loss's ``connector_branches`` to the entry's connector for it (the
entry builds one per branch). It returns the weighted scalar loss and
records its parts for the log (``loss_cls``, ``loss_reg``...).
"""
from typing import Dict, List, Optional, Tuple

import torch.nn as nn
from torch import Tensor

from .base import BaseDistillLoss

SIDES = ('student', 'teacher')


class BaseHeadLoss(BaseDistillLoss):
    """Base class of the losses on a dense detection head (module doc).

    Declared capabilities, besides :class:`BaseDistillLoss`'s:

    * ``connector_branches``: the head features the entry's ``connector``
      maps, one connector per branch (e.g. ``('cls', 'reg')`` for CrossKD's
      two stacked-conv branches); empty: the loss takes no connector.

    Args:
        loss_weight (float): multiplies the loss. Defaults to 1.0.
    """
    connector_branches: Tuple[str, ...] = ()

    def bind_heads(self, student_head: nn.Module, teacher_head: nn.Module,
                   where: str) -> None:
        """Called once when the distiller is built, with the two heads the
        entry names; raises a clear error for heads the loss cannot serve
        (``where`` names the entry). Keep them out of the loss's modules
        (``object.__setattr__``)."""
        raise NotImplementedError

    def record_paths(self, side: str) -> List[str]:
        """The modules of the ``side`` (``'student'`` or ``'teacher'``)
        head whose outputs the loss reads, relative to the head."""
        raise NotImplementedError

    def connector_channels(self) -> Optional[Tuple[int, int]]:
        """(student, teacher) channels of the features the connectors map
        (after :meth:`bind_heads`); None when the loss takes none."""
        return None

    def forward(self, student_rec: Dict[str, list],
                teacher_rec: Dict[str, list], data_samples,
                connectors: Optional[Dict[str, nn.Module]] = None) -> Tensor:
        raise NotImplementedError
