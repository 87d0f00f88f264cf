# Copyright (c) mmkd contributors. All rights reserved.
"""Build the distill entries of a config and bind their losses to the
models."""
from typing import Union

import torch.nn as nn

from mmkd.models.losses.base import BaseDistillLoss
from .distill_entry import DistillEntry
from .head_entry import HeadDistillEntry, is_head_loss_cfg

Entry = Union[DistillEntry, HeadDistillEntry]


def build_entry(cfg: dict, index: int) -> Entry:
    """A :class:`HeadDistillEntry` for a head loss (CrossKD, prediction
    mimicking), a :class:`DistillEntry` (features, logits) otherwise."""
    if is_head_loss_cfg(cfg.get('loss')):
        return HeadDistillEntry(cfg, index)
    return DistillEntry(cfg, index)


def setup_entry(entry: Entry, student: nn.Module, teacher: nn.Module) -> None:
    """Bind the entry's losses to the models. For a feature or logit
    entry, first check that it can give a ``joint_levels`` loss all its
    levels in one call, then bind every loss of the entry (wrapped ones
    included, :meth:`BaseDistillLoss.bind_models`); a head entry binds its
    loss to the two heads it names."""
    if entry.is_head:
        entry.bind_models(student, teacher)
        return
    where = f'distill entry {entry.name!r}'
    for loss in entry.losses:
        nested = [
            m for m in loss.modules() if m is not loss
            and isinstance(m, BaseDistillLoss) and m.joint_levels
        ]
        if nested:
            raise ValueError(
                f'{where}: {type(loss).__name__} calls its '
                f'{type(nested[0]).__name__} one level at a time, but that '
                'loss takes all levels in one call (joint_levels); for '
                "LSHLoss set level_reduction='sum' in it")
    if entry.joint_levels and (entry.num_levels is not None
                               or entry.level_weights is not None):
        raise ValueError(
            f'{where}: {type(entry.losses[0]).__name__} takes all levels in '
            'one call (one loss for all of them), so num_levels and '
            'level_weights do not apply; remove them, or for LSHLoss set '
            "level_reduction='sum' (one loss per level)")
    for module in entry.losses.modules():
        if isinstance(module, BaseDistillLoss):
            module.bind_models(student, teacher)
