# Copyright (c) mmkd contributors. All rights reserved.
"""The loss protocol: what a distiller may ask of an mmkd loss and how it
calls one (the compute contract).

Every distillation loss subclasses :class:`BaseDistillLoss` through one of
its two families, whose call signatures are:

* Feature losses (:class:`BaseFeatureLoss`)::

      loss(student_feat, teacher_feat, data_samples=None, *,
           teacher_logits=None, labels=None) -> Tensor

  on one feature map (B x C x H x W) or one batch of vectors (B x D), and,
  for a ``joint_levels`` loss, on all the levels of a distill entry (one
  tensor per level and side)::

      loss.forward_levels(student_feats, teacher_feats, data_samples=None,
                          *, teacher_logits=None, labels=None) -> Tensor

* Logit losses (:class:`BaseLogitLoss`)::

      loss(student_logits, teacher_logits, labels) -> Tensor

  on B x C logits and B integer labels.

A third family, the losses on a dense detection head (CrossKD, prediction
mimicking), reads several recorded modules of two heads at once; its
protocol is in :mod:`mmkd.models.losses.head_loss_base`.

Both return the *weighted* scalar loss (``loss_weight`` is applied inside),
take their hyperparameters from ``__init__`` and validate their inputs with a
message that says what is wrong and how to fix it.

**Capabilities are declared, never probed.** :class:`BaseDistillLoss` gives
each one a default, as a class attribute or a method; a loss overrides what
it does differently (a class attribute, or a property where it depends on
the loss's options) and a distiller reads them as plain attributes:

* ``joint_levels``: the loss takes all the levels of its entry in one call
  of ``forward_levels`` (default False: one call per level).
* ``needs_teacher_logits``: each call takes ``teacher_logits=``, the
  teacher's B x C class scores besides the features (the distill entry
  names the teacher module that outputs them). Default False.
* ``needs_labels``: each call takes ``labels=``, the batch's B class
  indices (the distiller extracts them once per batch from the data
  samples' ``gt_label``). Default False; True for every logit loss.
* :meth:`~BaseDistillLoss.pop_log_vars`: the scalars to log after a call
  (default: none).
* :meth:`~BaseDistillLoss.bind_models`: called once when the distiller is
  built (default: does nothing).

Feature losses also declare ``batch_separable``, ``accepts_maps``,
``accepts_vectors`` and ``computes_many`` (see :class:`BaseFeatureLoss`).

What a loss needs is passed **as arguments** of each call, never set on the
loss beforehand. A feature loss's ``forward``/``forward_levels`` hand
``teacher_logits`` and ``labels`` on to ``compute``/``compute_levels`` as
keyword arguments only when the loss declares needing them
(:meth:`~BaseDistillLoss.needed_inputs`), so a loss that needs neither
implements the plain ``compute(student_feat, teacher_feat, data_samples)``.
The distiller accepts only such losses: it refuses, when it is built, any
loss that does not subclass :class:`BaseFeatureLoss`,
:class:`BaseLogitLoss` or ``BaseHeadLoss``.
"""
from numbers import Number
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
from torch import Tensor

from mmkd.models.connectors.alignment import alignment_hint


def check_label_range(labels: Tensor, num_classes: int,
                      on_host: bool = True) -> None:
    """Raise when a label lies outside ``[0, num_classes - 1]``.

    Reading the labels' range on the host waits for the device (a host sync
    per call on a GPU), so callers do it once (``on_host=True``: a
    ``ValueError`` naming the range found) and later check on the device
    (``torch._assert_async``, no host sync): on the CPU it raises at once
    with the same text (a ``RuntimeError``), on a GPU it stops the run with
    a device-side assertion.
    """
    if not labels.numel():
        return
    text = (f'labels must lie in [0, {num_classes - 1}] for '
            f'{num_classes} classes')
    if not on_host:
        lo, hi = torch.aminmax(labels)
        torch._assert_async((lo >= 0) & (hi < num_classes), text)
        return
    lo, hi = (int(v) for v in torch.aminmax(labels))
    if lo < 0 or hi >= num_classes:
        raise ValueError(f'{text}, got min {lo} and max {hi}')


def _check_weight(loss_weight) -> float:
    if not isinstance(loss_weight, Number) or isinstance(loss_weight, bool):
        raise TypeError(f'loss_weight must be a number, got {loss_weight!r}')
    return float(loss_weight)


class BaseDistillLoss(nn.Module):
    """Base class of every mmkd distillation loss: the capabilities a
    distiller may ask for, with their defaults (see the module doc).

    Args:
        loss_weight (float): multiplies the loss. Defaults to 1.0.
    """
    #: takes all the levels of its distill entry in one call
    joint_levels: bool = False
    #: each call takes ``teacher_logits=`` (the teacher's B x C logits)
    needs_teacher_logits: bool = False
    #: each call takes ``labels=`` (the batch's B class indices)
    needs_labels: bool = False

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
        """Return and clear the scalars recorded by the last call (``{}``
        when it recorded none)."""
        log_vars, self._log_vars = self._log_vars, {}
        return log_vars

    def bind_models(self, student: nn.Module, teacher: nn.Module) -> None:
        """Called once by the distiller when it is built, with the student
        and the (frozen) teacher. A loss that needs part of them looks it up
        here and raises a clear error if it is missing; it must not keep
        it as a submodule (use ``object.__setattr__``), so that no model
        weight enters the loss's ``state_dict``. Does nothing by default."""

    def needed_inputs(self, teacher_logits: Optional[Tensor] = None,
                      labels: Optional[Tensor] = None) -> dict:
        """The keyword arguments a call hands on to the computation: the
        inputs among ``teacher_logits`` and ``labels`` this loss declares it
        needs (``needs_teacher_logits``, ``needs_labels``), the others
        dropped. The loss itself says what is wrong with a needed one."""
        needed = {}
        if self.needs_teacher_logits:
            needed['teacher_logits'] = teacher_logits
        if self.needs_labels:
            needed['labels'] = labels
        return needed


class BaseFeatureLoss(BaseDistillLoss):
    """Base class of feature distillation losses.

    Subclasses implement :meth:`compute` (unweighted). Contract:

    * ``student_feat`` and ``teacher_feat`` are tensors of the same shape
      (B x C x H x W, or B x D where ``accepts_vectors``); channel or spatial
      differences are the job of a connector, not of the loss.
      ``accepts_maps`` / ``accepts_vectors`` say which of the two it takes.
    * ``batch_separable``: ``True`` if the loss of a batch made of k equal
      groups equals the mean of the k groups' losses (the loss is a mean over
      samples). AvatarLoss uses it to evaluate all avatars in one call by
      folding them into the batch; losses using batch statistics set it to
      ``False``.
    * ``computes_many``: ``True`` if the loss implements
      :meth:`compute_many` (one student against k teachers in one call,
      e.g. to compute the student side once); AvatarLoss then gives it a
      chunk of avatars that way.
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
    * ``needs_teacher_logits`` / ``needs_labels``: :meth:`compute` and
      :meth:`compute_levels` then take ``teacher_logits=`` / ``labels=`` as
      keyword arguments (see the module doc).
    * :meth:`bind_models` is called once by the distiller when it is
      built, for a loss that needs part of the student or teacher (e.g. the
      student's anchor head).

    Args:
        loss_weight (float): multiplies the loss. Defaults to 1.0.
    """
    batch_separable = True
    accepts_maps = True
    accepts_vectors = False
    computes_many = False

    def check_inputs(self, student_feat: Tensor, teacher_feat: Tensor) -> None:
        name = type(self).__name__
        for side, feat in (('student', student_feat), ('teacher',
                                                       teacher_feat)):
            if not isinstance(feat, Tensor):
                raise TypeError(
                    f'{name} takes one tensor per side, but the {side} '
                    f'feature is a {type(feat).__name__}. For a module that '
                    'outputs a tuple/list (e.g. FPN levels) the distiller '
                    'splits it level by level; select one output with '
                    "'student_index'/'teacher_index' in the distill entry.")
        ndim = student_feat.dim()
        allowed = ([4] if self.accepts_maps else
                   []) + ([2] if self.accepts_vectors else [])
        if ndim not in allowed:
            raise ValueError(
                f'{name} expects {" or ".join(f"{d}-D" for d in allowed)} '
                f'features (4-D = B x C x H x W, 2-D = B x D), got shape '
                f'{tuple(student_feat.shape)}')
        if student_feat.shape != teacher_feat.shape:
            raise ValueError(
                f'{name}: student feature {tuple(student_feat.shape)} and '
                f'teacher feature {tuple(teacher_feat.shape)} differ; align '
                'them in the distill entry: ' +
                alignment_hint(student_feat.shape, teacher_feat.shape))

    def forward(self, student_feat: Tensor, teacher_feat: Tensor,
                data_samples: Optional[Sequence] = None, *,
                teacher_logits: Optional[Tensor] = None,
                labels: Optional[Tensor] = None) -> Tensor:
        """The weighted loss of one level; ``teacher_logits`` and
        ``labels`` reach :meth:`compute` when the loss needs them."""
        self.check_inputs(student_feat, teacher_feat)
        teacher_feat = teacher_feat.detach()  # the teacher is never trained
        return self.loss_weight * self.compute(
            student_feat, teacher_feat, data_samples,
            **self.needed_inputs(teacher_logits, labels))

    def compute(self, student_feat: Tensor, teacher_feat: Tensor,
                data_samples: Optional[Sequence] = None) -> Tensor:
        """The unweighted loss; inputs are already validated. A loss with
        ``needs_teacher_logits`` / ``needs_labels`` also takes
        ``teacher_logits=`` / ``labels=``."""
        raise NotImplementedError

    def compute_many(self, student_feat: Tensor, teacher_feats: Tensor,
                     data_samples: Optional[Sequence] = None) -> Tensor:
        """The unweighted mean of :meth:`compute` over k teacher features
        (``teacher_feats``, k x B x ...) for one student, in one call; only
        for a loss with ``computes_many``."""
        raise NotImplementedError(
            f'{type(self).__name__} has no compute_many (computes_many is '
            'False); call it once per teacher feature')

    def forward_levels(self, student_feats: Sequence[Tensor],
                       teacher_feats: Sequence[Tensor],
                       data_samples: Optional[Sequence] = None, *,
                       teacher_logits: Optional[Tensor] = None,
                       labels: Optional[Tensor] = None) -> Tensor:
        """The weighted loss of all the levels of one distill entry at once
        (one tensor per level and side), for a loss with ``joint_levels``;
        ``teacher_logits`` and ``labels`` as for :meth:`forward`.
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
            list(student_feats), teacher_feats, data_samples,
            **self.needed_inputs(teacher_logits, labels))

    def compute_levels(self, student_feats: List[Tensor],
                       teacher_feats: List[Tensor],
                       data_samples: Optional[Sequence] = None) -> Tensor:
        """The unweighted loss of all levels (``joint_levels`` losses);
        inputs are already validated level by level. Takes
        ``teacher_logits=`` / ``labels=`` as :meth:`compute` does."""
        raise NotImplementedError


def standardize_logits(logits: Tensor, eps: float = 1e-7) -> Tensor:
    """Logit standardisation (Sun et al., "Logit Standardization in
    Knowledge Distillation", CVPR 2024, Eq. 5): z-score each sample's logits,
    ``(z - mean(z)) / std(z)``."""
    mean = logits.mean(dim=-1, keepdim=True)
    std = logits.std(dim=-1, keepdim=True)
    return (logits - mean) / (std + eps)


class BaseLogitLoss(BaseDistillLoss):
    """Base class of logit distillation losses.

    Subclasses implement :meth:`compute` (unweighted) on validated logits;
    when ``logit_standardization`` is on, both logit sets are z-scored per
    sample first (:func:`standardize_logits`). The teacher's logits are the
    entry's teacher output and the labels a positional argument: every
    logit loss declares ``needs_labels`` (and not ``needs_teacher_logits``,
    which is about logits besides the features).

    Args:
        loss_weight (float): multiplies the loss. Defaults to 1.0.
        logit_standardization (bool): z-score logits per sample (LS, CVPR
            2024) before the loss. Defaults to False.
    """

    needs_labels = True

    def __init__(self, loss_weight: float = 1.0,
                 logit_standardization: bool = False) -> None:
        super().__init__(loss_weight=loss_weight)
        self.logit_standardization = bool(logit_standardization)
        self._labels_checked = False  # on the host, on the first call

    @staticmethod
    def check_inputs(student_logits: Tensor, teacher_logits: Tensor,
                     labels: Tensor) -> None:
        for side, z in (('student', student_logits), ('teacher',
                                                      teacher_logits)):
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

    def check_labels(self, labels: Tensor, num_classes: int) -> None:
        """:func:`check_label_range`, read on the host on this loss's first
        call only."""
        check_label_range(labels, num_classes,
                          on_host=not self._labels_checked)
        self._labels_checked = True

    def forward(self, student_logits: Tensor, teacher_logits: Tensor,
                labels: Tensor) -> Tensor:
        self.check_inputs(student_logits, teacher_logits, labels)
        self.check_labels(labels, student_logits.shape[1])
        if self.logit_standardization:
            student_logits = standardize_logits(student_logits)
            teacher_logits = standardize_logits(teacher_logits)
        return self.loss_weight * self.compute(student_logits, teacher_logits,
                                               labels)

    def compute(self, student_logits: Tensor, teacher_logits: Tensor,
                labels: Tensor) -> Tensor:
        """The unweighted loss; inputs are already validated."""
        raise NotImplementedError
