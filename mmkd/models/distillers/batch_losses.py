# Copyright (c) mmkd contributors. All rights reserved.
"""The distill entries' losses on one batch, computed as the teachers'
recordings arrive."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from mmkd.models.heads.linear_cls_head import gt_labels
from mmkd.models.losses.base import BaseFeatureLoss
from mmkd.registry import MODELS


def labels_from_data_samples(data_samples) -> Tensor:
    """Class labels (B,) from classification data samples (``gt_label``),
    taken once per batch for every loss with ``needs_labels``."""
    if not data_samples or not hasattr(data_samples[0], 'gt_label'):
        raise ValueError('a logit loss (or any loss with needs_labels) '
                         'needs class labels: the data samples must carry '
                         '`gt_label` (classification data)')
    return gt_labels(data_samples)


def check_logit_levels(entry, s_levels: List[Tensor],
                       t_levels: List[Tensor]) -> None:
    """A logit loss takes B x C class scores: name the entry, the shapes it
    got and the feature losses to use when it got feature maps."""
    shapes = [tuple(t.shape) for t in s_levels + t_levels]
    if all(len(shape) == 2 for shape in shapes):
        return
    MODELS.import_from_location()
    feature_losses = sorted(
        f'mmkd.{name}' for name, cls in MODELS.module_dict.items()
        if isinstance(cls, type) and issubclass(cls, BaseFeatureLoss))
    s_shapes = [tuple(t.shape) for t in s_levels]
    t_shapes = [tuple(t.shape) for t in t_levels]
    raise ValueError(
        f'distill entry {entry.name!r}: {type(entry.loss_for(0)).__name__} '
        f'is a logit loss (it takes B x num_classes class scores and the '
        f'class labels), but {entry.student_path!r} gives '
        f'{len(s_levels)} level(s) of shape {s_shapes} (teacher '
        f'{entry.teacher_path!r}: {t_shapes}), i.e. feature maps. Distil '
        f'feature maps with a feature loss: {", ".join(feature_losses)} '
        '(e.g. loss=dict(type=\'mmkd.PKDLoss\') for FPN levels), or point '
        'the entry at modules that output B x C logits.')


def as_dtype(levels: List[Tensor], dtype: torch.dtype) -> List[Tensor]:
    """Floating-point features in ``dtype`` (a differentiable cast; the
    student's features are half precision under autocast)."""
    return [
        t.to(dtype) if t.is_floating_point() and t.dtype != dtype else t
        for t in levels
    ]


class BatchLosses:
    """One batch's distillation losses, entry by entry.

    :meth:`add` takes a teacher recording (``{entry path: [output per
    call]}``: one teacher's, or all teachers' at once) and computes every
    entry it completes; an entry reading several teachers (an ensemble)
    keeps its levels of each teacher until the last one arrives. A
    recording is not kept: the caller may free it once :meth:`add`
    returns. :meth:`result` gives the losses in the entries' order, so the
    total does not depend on the order the teachers ran in.

    Args:
        entries (Sequence): the distiller's distill entries.
        student_out (dict): the student's recording.
        data_samples: the batch's data samples.
        like (Tensor): a student parameter: every loss runs in its dtype,
            with autocast off on its device (no statistic or reduction in
            half precision under ``--amp``).
        weight (float | Tensor): the distillation weight.
    """

    def __init__(self, entries: Sequence, student_out: dict, data_samples,
                 like: Tensor, weight) -> None:
        self.entries = list(entries)
        self.student_out = student_out
        self.data_samples = data_samples
        self.dtype = like.dtype
        self.device_type = like.device.type
        self.weight = weight
        self._labels: Optional[Tensor] = None
        self._done: Dict[str, Tuple[dict, List[Tensor]]] = {}
        self._members: Dict[str, Dict[str, List[Tensor]]] = {}

    @property
    def labels(self) -> Tensor:
        if self._labels is None:
            self._labels = labels_from_data_samples(self.data_samples)
        return self._labels

    def add(self, recorded: dict) -> None:
        """Compute the entries ``recorded`` completes."""
        with torch.autocast(device_type=self.device_type, enabled=False):
            self._add(recorded)

    def _add(self, recorded: dict) -> None:
        for entry in self.entries:
            if entry.name in self._done:
                continue
            if entry.is_head:
                if entry.teacher_record_paths()[0] in recorded:
                    self._head(entry, recorded)
            elif entry.ensemble is None:
                if entry.teacher_path in recorded:
                    self._levels(
                        entry, entry.member_levels(recorded,
                                                   entry.teacher_path),
                        recorded)
            else:
                self._gather(entry, recorded)

    def _gather(self, entry, recorded: dict) -> None:
        got = self._members.setdefault(entry.name, {})
        for path in entry.teacher_paths:
            if path in recorded:
                got[path] = as_dtype(
                    entry.member_levels(recorded, path), self.dtype)
        if len(got) < len(entry.teacher_paths):
            return
        members = {path: got[path] for path in entry.teacher_paths}
        del self._members[entry.name]
        if entry.ensemble.mode == 'mean':
            self._levels(entry, entry.combine(members), {})
        else:
            entry.ensemble.check_shapes(members)
            self._levels(entry, None, {}, members=list(members.values()))

    def _head(self, entry, recorded: dict) -> None:
        loss, parts = entry.head_loss(self.student_out, recorded,
                                      self.data_samples, self.dtype)
        out = {
            f'distill.{entry.name}.{key}': val
            for key, val in parts.items()
        }
        out[f'distill.{entry.name}.loss'] = self.weight * loss
        self._done[entry.name] = (out, [loss])

    def _levels(self, entry, t_levels: Optional[List[Tensor]], recorded: dict,
                members: Optional[List[List[Tensor]]] = None) -> None:
        """One entry's losses, level by level (or in one call), against the
        teacher levels ``t_levels`` (or, for an uncertainty ensemble, every
        teacher's levels ``members``)."""
        s_levels = as_dtype(entry.student_levels(self.student_out), self.dtype)
        if t_levels is not None:
            t_levels = as_dtype(t_levels, self.dtype)
        num_t = len(t_levels if members is None else members[0])
        if len(s_levels) != num_t:
            pairs = min(len(s_levels), num_t)
            raise ValueError(
                f'distill entry {entry.name!r}: the student gives '
                f'{len(s_levels)} levels and the teacher {num_t}; pair them '
                'in the entry, student level student_index[k] with teacher '
                'level teacher_index[k], e.g. student_index='
                f'{list(range(pairs))}, teacher_index={list(range(pairs))}')
        entry.check_levels(len(s_levels))
        if entry.is_logit:
            check_logit_levels(entry, s_levels, t_levels)
        labels = self.labels if entry.needs_labels else None
        t_logits = entry.pick_teacher_logits(recorded)
        out = {}
        if entry.joint_levels:
            if members is not None:
                raise ValueError(
                    f'distill entry {entry.name!r}: {type(entry.losses[0])}'
                    " takes all levels in one call; ensemble='uncertainty' "
                    "needs one call per level: use ensemble='mean', or for "
                    "LSHLoss level_reduction='sum'")
            level_losses = [
                entry.joint_levels_loss(s_levels, t_levels, self.data_samples,
                                        t_logits, labels)
            ]
            for key, val in entry.pop_log_vars(0).items():
                out[f'distill.{entry.name}.{key}'] = val
        else:
            level_losses = []
            for i, s_feat in enumerate(s_levels):
                if members is None:
                    loss = entry.level_loss(s_feat, t_levels[i], i,
                                            self.data_samples, labels,
                                            t_logits)
                else:
                    loss = entry.uncertainty_level_loss(
                        s_feat, [m[i] for m in members], i, self.data_samples,
                        labels)
                level_losses.append(loss)
                for key, val in entry.pop_log_vars(i).items():
                    suffix = f'.l{i}' if len(s_levels) > 1 else ''
                    out[f'distill.{entry.name}{suffix}.{key}'] = val
        out[f'distill.{entry.name}.loss'] = self.weight * sum(level_losses)
        self._done[entry.name] = (out, level_losses)

    def result(self) -> Tuple[Dict[str, Tensor], Dict[str, List[Tensor]]]:
        """``({'distill.<name>.loss': weighted loss, logged scalars...},
        {entry name: [unweighted loss per level]})`` in the entries' order;
        raises if an entry did not get all its teachers' recordings."""
        missing = [e.name for e in self.entries if e.name not in self._done]
        if missing:
            raise RuntimeError(f'distill entries {missing} got no recording '
                               'of the teacher modules they read')
        out: Dict[str, Tensor] = {}
        per_level: Dict[str, List[Tensor]] = {}
        for entry in self.entries:
            items, losses = self._done[entry.name]
            out.update(items)
            per_level[entry.name] = losses
        return out, per_level


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
