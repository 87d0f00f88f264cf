# Copyright (c) mmkd contributors. All rights reserved.
"""The base class of mmkd's distillers."""
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModel
from torch import Tensor

from mmkd.models.teacher import build_teacher

STUDENT_PREFIX = 'student.'


class BaseDistiller(BaseModel):
    """A student that learns from a frozen teacher (or several: then
    ``self.teacher`` is an ``nn.ModuleDict`` of them by name, kept the same
    way, see :class:`~mmkd.models.distillers.MultiTeacherDistiller`).

    What every distiller shares lives here:

    - **The teacher** is built from its own config (``dict(config=...,
      checkpoint=...)`` or ``dict(model=..., checkpoint=...)``, see
      :func:`~mmkd.models.teacher.teacher.build_teacher`), loaded
      strictly, frozen and kept in eval mode. It is *not* a registered
      submodule: its weights never enter the distiller's ``state_dict``
      (checkpoints never hold them), the optimizer never sees them, DDP
      does not synchronise them and ``init_weights``/``train()`` never touch
      them. Device and dtype moves (``to``/``cuda``) are forwarded to it.
    - **The checkpoint-key policy.** ``state_dict`` holds the student's
      weights under exactly the plain student's keys, plus the
      distillation-only parameters under the prefixes of
      :attr:`DISTILL_STATE_PREFIXES` (connectors, learnable loss parts, a
      generator). :meth:`split_distill_state` /
      :meth:`merge_distill_state` move those out of and back into a
      checkpoint's state dict, so that a saved checkpoint is a plain student
      checkpoint (:class:`~mmkd.engine.hooks.DistillCheckpointHook`).
    - **The distillation weight** :attr:`distill_weight`, a multiplier of
      every distillation loss that hooks may schedule
      (:class:`~mmkd.engine.hooks.DistillWeightScheduleHook`).

    Subclasses build ``self.student`` (a registered submodule) before
    calling :meth:`init_teacher`.
    """

    #: state-dict key prefixes of the distillation-only parameters
    DISTILL_STATE_PREFIXES: Tuple[str, ...] = ()
    #: whether the distiller trains under DDP (several processes); a
    #: distiller that cannot says why in :attr:`DISTRIBUTED_UNSUPPORTED`
    SUPPORTS_DISTRIBUTED: bool = True
    DISTRIBUTED_UNSUPPORTED: str = ''
    #: whether training stops on a non-finite distillation loss
    #: (:class:`~mmkd.engine.hooks.NonFiniteLossHook`)
    check_finite: bool = True

    def __init__(self, data_preprocessor=None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.distill_weight = 1.0
        self.register_state_dict_post_hook(self._student_keys_hook)
        self.register_load_state_dict_pre_hook(self._load_student_keys_hook)

    # ------------------------------------------------------------ teacher
    def init_teacher(self, teacher: dict,
                     prepare_cfg: Optional[Callable] = None,
                     check_state: Optional[Callable] = None) -> nn.Module:
        """Build, load and freeze the teacher and keep it outside the
        module tree as ``self.teacher``. ``prepare_cfg(model_cfg)`` may
        adjust the teacher's model config and ``check_state(model,
        state_dict)`` check the checkpoint before it is loaded (see
        :func:`build_teacher`)."""
        model = build_teacher(teacher, prepare_cfg=prepare_cfg,
                              check_state=check_state)
        object.__setattr__(self, 'teacher', model)
        return model

    def _apply(self, fn, *args, **kwargs):
        # device/dtype moves also apply to the (unregistered) teacher
        super()._apply(fn, *args, **kwargs)
        teacher = self.__dict__.get('teacher')
        if teacher is not None:
            teacher._apply(fn, *args, **kwargs)
        return self

    def train(self, mode: bool = True) -> 'BaseDistiller':
        super().train(mode)
        teacher = self.__dict__.get('teacher')
        if teacher is not None:
            teacher.eval()  # the teacher is always in eval mode
        return self

    def teacher_models(self) -> Dict[Optional[str], nn.Module]:
        """``{name: teacher}``; the one teacher is named None."""
        return {None: self.teacher}

    def predict_teacher(self, name: Optional[str], data: dict) -> List:
        """The predictions of teacher ``name`` (see :meth:`teacher_models`)
        on a collated validation batch, as its own ``predict`` mode makes
        them from the batch the distiller gives it (here the student's
        preprocessing; distillers that run the teacher their own way
        override this), under ``no_grad``. The teacher check
        (:class:`~mmkd.engine.hooks.TeacherCheckHook`) evaluates these with
        the run's validation metric."""
        data = self.data_preprocessor(data, False)
        with torch.no_grad():
            return self.teacher_models()[name](data['inputs'],
                                               data['data_samples'],
                                               mode='predict')

    # ------------------------------------------------------------- checks
    def check_distill_batch(self, batch) -> Dict[str, list]:
        """Validate the distillation on one collated training batch before
        the first iteration (:class:`~mmkd.engine.hooks.DistillCheckHook`);
        returns what was checked, per entry. The base has nothing to check.
        """
        return {}

    def check_teacher_layout(self, batch) -> Dict[str, str]:
        """Compare the teacher's outputs on one collated training batch with
        the NCHW teacher's before the first iteration
        (:class:`~mmkd.engine.hooks.DistillCheckHook`); returns ``{module
        path: reason}`` of the modules it had to keep NCHW. The base has no
        channels-last teacher."""
        return {}

    def keep_teacher_nchw(self, boundaries: Dict[str, str]) -> None:
        """Keep the teacher modules ``{path: reason}`` NCHW (those every
        rank's :meth:`check_teacher_layout` found), with one warning."""

    def last_level_losses(self) -> Dict[str, Tensor]:
        """``{entry name: the last training step's loss per level}``,
        detached (read only when a loss was not finite, to name the level).
        The base has none."""
        return {}

    # --------------------------------------------------- checkpoint keys
    def is_distill_key(self, key: str) -> bool:
        """Whether a state-dict key is a distillation-only parameter."""
        return key.startswith(self.DISTILL_STATE_PREFIXES)

    def split_distill_state(self, state_dict: dict) -> Dict[str, object]:
        """Remove the distillation-only entries from ``state_dict`` (in
        place) and return them; what is left is the plain student's."""
        return {
            k: state_dict.pop(k)
            for k in list(state_dict) if self.is_distill_key(k)
        }

    @staticmethod
    def merge_distill_state(state_dict: dict, distill: dict) -> None:
        """Put distillation-only entries back into ``state_dict``."""
        state_dict.update(distill)

    @staticmethod
    def _student_keys_hook(module, state_dict, prefix, local_metadata):
        """state_dict: ``student.x`` -> ``x`` (plain student keys)."""
        items = list(state_dict.items())
        state_dict.clear()
        head = prefix + STUDENT_PREFIX
        for key, value in items:
            if key.startswith(head):
                key = prefix + key[len(head):]
            state_dict[key] = value

    @staticmethod
    def _load_student_keys_hook(module, state_dict, prefix, *args):
        """load_state_dict: plain student keys -> ``student.x``."""
        for key in list(state_dict):
            if not key.startswith(prefix):
                continue
            rest = key[len(prefix):]
            if rest.startswith(STUDENT_PREFIX) or module.is_distill_key(rest):
                continue
            state_dict[prefix + STUDENT_PREFIX + rest] = state_dict.pop(key)
