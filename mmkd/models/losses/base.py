# Copyright (c) mmkd contributors. All rights reserved.
"""The two call signatures every mmkd loss follows.

* Feature losses (:class:`BaseFeatureLoss`)::

      loss(student_feat, teacher_feat, data_samples=None) -> Tensor

  on one feature map (B x C x H x W) or one batch of vectors (B x D).
* Logit losses (:class:`BaseLogitLoss`)::

      loss(student_logits, teacher_logits, labels) -> Tensor

  on B x C logits and B integer labels.

Both return the *weighted* scalar loss (``loss_weight`` is applied inside),
take their hyperparameters from ``__init__`` and validate their inputs with a
message that says what is wrong and how to fix it.
"""
from numbers import Number
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
from torch import Tensor


def _check_weight(loss_weight) -> float:
    if not isinstance(loss_weight, Number) or isinstance(loss_weight, bool):
        raise TypeError(f'loss_weight must be a number, got {loss_weight!r}')
    return float(loss_weight)


class BaseFeatureLoss(nn.Module):
    """Base class of feature distillation losses.

    Subclasses implement :meth:`compute` (unweighted). Contract:

    * ``student_feat`` and ``teacher_feat`` are tensors of the same shape
      (B x C x H x W, or B x D where ``accepts_vectors``); channel or spatial
      differences are the job of a connector, not of the loss.
    * ``batch_separable``: ``True`` if the loss of a batch made of k equal
      groups equals the mean of the k groups' losses (the loss is a mean over
      samples). AvatarLoss uses it to evaluate all avatars in one call by
      folding them into the batch; losses using batch statistics set it to
      ``False``.
    * ``joint_levels``: ``True`` if the loss takes all the levels of its
      distill entry (e.g. the five FPN levels a shared head runs on) in one
      call of :meth:`forward_levels` (subclasses implement
      :meth:`compute_levels`), e.g. for one mean over the positions of every
      level; the distiller then applies the entry's connector level by
      level and makes that one call instead of summing one :meth:`forward`
      per level. Such a loss serves all levels (no ``num_levels`` or
      ``level_weights`` in its entry) and cannot be wrapped by a loss that
      calls its base one level at a time (e.g. AvatarLoss); the distiller
      checks both when it is built.
    * :meth:`bind_models` is called once by the distiller when it is
      built, for a loss that needs part of the student or teacher (e.g. the
      student's anchor head).

    Args:
        loss_weight (float): multiplies the loss. Defaults to 1.0.
    """
    batch_separable = True
    accepts_maps = True
    accepts_vectors = False
    joint_levels = False

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = _check_weight(loss_weight)
        self._log_vars = {}

    def record_log_var(self, name: str, value: Tensor) -> None:
        """Keep a scalar to be logged (not a loss, e.g. AKD's mean
        uncertainty); the distiller collects it after each call, under the
        entry's name."""
        self._log_vars[name] = value.detach()

    def pop_log_vars(self) -> dict:
        """Return and clear the scalars recorded by the last call."""
        log_vars, self._log_vars = self._log_vars, {}
        return log_vars

    def check_inputs(self, student_feat: Tensor, teacher_feat: Tensor) -> None:
        name = type(self).__name__
        for side, feat in (('student', student_feat),
                           ('teacher', teacher_feat)):
            if not isinstance(feat, Tensor):
                raise TypeError(
                    f'{name} takes one tensor per side, but the {side} '
                    f'feature is a {type(feat).__name__}. For a module that '
                    'outputs a tuple/list (e.g. FPN levels) the distiller '
                    'splits it level by level; select one output with '
                    "'student_index'/'teacher_index' in the distill entry.")
        ndim = student_feat.dim()
        allowed = ([4] if self.accepts_maps else []) + (
            [2] if self.accepts_vectors else [])
        if ndim not in allowed:
            raise ValueError(
                f'{name} expects {" or ".join(f"{d}-D" for d in allowed)} '
                f'features (4-D = B x C x H x W, 2-D = B x D), got shape '
                f'{tuple(student_feat.shape)}')
        if student_feat.shape != teacher_feat.shape:
            hint = ('add a channel connector, e.g. connector=dict('
                    "type='mmkd.ConvConnector', in_channels=<student C>, "
                    'out_channels=<teacher C>)')
            if ndim == 4 and student_feat.shape[1] == teacher_feat.shape[1]:
                hint = ("add a spatial connector, e.g. connector=dict("
                        "type='mmkd.ResizeConnector')")
            raise ValueError(
                f'{name}: student feature {tuple(student_feat.shape)} and '
                f'teacher feature {tuple(teacher_feat.shape)} differ; {hint} '
                'to the distill entry.')

    def forward(self,
                student_feat: Tensor,
                teacher_feat: Tensor,
                data_samples: Optional[Sequence] = None) -> Tensor:
        self.check_inputs(student_feat, teacher_feat)
        teacher_feat = teacher_feat.detach()  # the teacher is never trained
        return self.loss_weight * self.compute(student_feat, teacher_feat,
                                               data_samples)

    def compute(self,
                student_feat: Tensor,
                teacher_feat: Tensor,
                data_samples: Optional[Sequence] = None) -> Tensor:
        """The unweighted loss; inputs are already validated."""
        raise NotImplementedError

    def bind_models(self, student: nn.Module, teacher: nn.Module) -> None:
        """Called once by the distiller when it is built, with the student
        and the (frozen) teacher. A loss that needs part of them looks it up
        here and raises a clear error if it is missing; it must not keep
        it as a submodule (use ``object.__setattr__``), so that no model
        weight enters the loss's ``state_dict``. Does nothing by default."""

    def forward_levels(self,
                       student_feats: Sequence[Tensor],
                       teacher_feats: Sequence[Tensor],
                       data_samples: Optional[Sequence] = None) -> Tensor:
        """The weighted loss of all the levels of one distill entry at once
        (one tensor per level and side), for a loss with ``joint_levels``.
        """
        name = type(self).__name__
        if not self.joint_levels:
            raise TypeError(f'{name} takes one level per call '
                            '(joint_levels is False); call it per level')
        if not isinstance(student_feats, (list, tuple)) or not isinstance(
                teacher_feats, (list, tuple)) or not student_feats or len(
                    student_feats) != len(teacher_feats):
            raise ValueError(
                f'{name}.forward_levels takes two equally long, non-empty '
                'lists of tensors (one per level, student and teacher); got '
                f'{type(student_feats).__name__} and '
                f'{type(teacher_feats).__name__}')
        for student_feat, teacher_feat in zip(student_feats, teacher_feats):
            self.check_inputs(student_feat, teacher_feat)
        teacher_feats = [feat.detach() for feat in teacher_feats]
        return self.loss_weight * self.compute_levels(
            list(student_feats), teacher_feats, data_samples)

    def compute_levels(self,
                       student_feats: List[Tensor],
                       teacher_feats: List[Tensor],
                       data_samples: Optional[Sequence] = None) -> Tensor:
        """The unweighted loss of all levels (``joint_levels`` losses);
        inputs are already validated level by level."""
        raise NotImplementedError


def standardize_logits(logits: Tensor, eps: float = 1e-7) -> Tensor:
    """Logit standardisation (Sun et al., "Logit Standardization in
    Knowledge Distillation", CVPR 2024, Eq. 5): z-score each sample's logits,
    ``(z - mean(z)) / std(z)``."""
    mean = logits.mean(dim=-1, keepdim=True)
    std = logits.std(dim=-1, keepdim=True)
    return (logits - mean) / (std + eps)


class BaseLogitLoss(nn.Module):
    """Base class of logit distillation losses.

    Subclasses implement :meth:`compute` (unweighted) on validated logits;
    when ``logit_standardization`` is on, both logit sets are z-scored per
    sample first (:func:`standardize_logits`).

    Args:
        loss_weight (float): multiplies the loss. Defaults to 1.0.
        logit_standardization (bool): z-score logits per sample (LS, CVPR
            2024) before the loss. Defaults to False.
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 logit_standardization: bool = False) -> None:
        super().__init__()
        self.loss_weight = _check_weight(loss_weight)
        self.logit_standardization = bool(logit_standardization)

    @staticmethod
    def check_inputs(student_logits: Tensor, teacher_logits: Tensor,
                     labels: Tensor) -> None:
        for side, z in (('student', student_logits),
                        ('teacher', teacher_logits)):
            if not isinstance(z, Tensor):
                raise TypeError(f'{side} logits must be a tensor, got '
                                f'{type(z).__name__}')
            if z.dim() != 2:
                raise ValueError(
                    f'logit losses take B x C logits, but the {side} input '
                    f'has shape {tuple(z.shape)}; for feature maps use a '
                    'feature loss (e.g. mmkd.FeatureMSELoss)')
        if student_logits.shape != teacher_logits.shape:
            raise ValueError(
                f'student logits {tuple(student_logits.shape)} and teacher '
                f'logits {tuple(teacher_logits.shape)} differ: both must '
                'have the same batch size and number of classes')
        if not isinstance(labels, Tensor):
            raise TypeError(f'labels must be a tensor, got '
                            f'{type(labels).__name__}')
        if labels.dtype.is_floating_point or labels.dtype == torch.bool:
            raise TypeError(f'labels must be class indices of an integer '
                            f'dtype, got {labels.dtype}')
        if labels.shape != student_logits.shape[:1]:
            raise ValueError(f'expected {student_logits.shape[0]} labels '
                             f'(one per sample), got shape '
                             f'{tuple(labels.shape)}')
        num_classes = student_logits.shape[1]
        if labels.numel() and (labels.min() < 0
                               or labels.max() >= num_classes):
            raise ValueError(
                f'labels must lie in [0, {num_classes - 1}] for '
                f'{num_classes} classes, got min {int(labels.min())} and '
                f'max {int(labels.max())}')

    def forward(self, student_logits: Tensor, teacher_logits: Tensor,
                labels: Tensor) -> Tensor:
        self.check_inputs(student_logits, teacher_logits, labels)
        if self.logit_standardization:
            student_logits = standardize_logits(student_logits)
            teacher_logits = standardize_logits(teacher_logits)
        return self.loss_weight * self.compute(student_logits,
                                               teacher_logits, labels)

    def compute(self, student_logits: Tensor, teacher_logits: Tensor,
                labels: Tensor) -> Tensor:
        """The unweighted loss; inputs are already validated."""
        raise NotImplementedError
