# Copyright (c) mmkd contributors. All rights reserved.
"""What a distill entry's config gives: the entries as a list, an entry's
teacher module path(s) and the loss it builds."""
from typing import List

import torch.nn as nn

from mmkd.models.losses.base import BaseFeatureLoss, BaseLogitLoss
from mmkd.models.losses.head_loss_base import BaseHeadLoss
from mmkd.registry import MODELS


def build_loss(cfg: dict, where: str) -> nn.Module:
    """Build a registered mmkd loss, with a clear error for unknown types."""
    try:
        loss = MODELS.build(cfg)
    except KeyError as err:
        losses = sorted(
            name for name, cls in MODELS.module_dict.items()
            if isinstance(cls, type) and issubclass(cls, (
                BaseFeatureLoss, BaseLogitLoss, BaseHeadLoss)))
        raise KeyError(
            f'{where}: cannot build loss {cfg.get("type")!r} ({err}). '
            f'Registered mmkd losses: {losses}; write them as '
            "type='mmkd.<Name>'.") from None
    if not isinstance(loss, (BaseFeatureLoss, BaseLogitLoss)):
        raise TypeError(
            f'{where}: {type(loss).__name__} is not an mmkd feature or logit '
            'loss: subclass mmkd.models.losses.BaseFeatureLoss (features) '
            'or BaseLogitLoss (logits), whose attributes declare what the '
            'loss needs (the loss protocol of mmkd.models.losses.base).')
    return loss


def teacher_path_list(teacher, index: int) -> List[str]:
    """An entry's ``teacher``: one module path, or a list of them (the same
    module of several teachers, an ensemble)."""
    paths = [teacher] if isinstance(teacher, str) else teacher
    if not isinstance(paths, (list, tuple)) or not paths or not all(
            isinstance(p, str) and p for p in paths):
        raise TypeError(
            f'distill[{index}]: teacher={teacher!r}: give a teacher module '
            "path, e.g. 'neck', or with several teachers a list of them, "
            "e.g. ['r101.neck', 'x101.neck']")
    if len(set(paths)) != len(paths):
        raise ValueError(f'distill[{index}]: teacher={list(paths)} names a '
                         'module twice; list each teacher once')
    return list(paths)


def entry_cfgs(distill) -> List[dict]:
    """The distill entry configs as a list: a dict ``{name: entry}`` gives
    each entry its key as ``name`` (``None`` values are dropped)."""
    if isinstance(distill, dict):
        cfgs = []
        for name, cfg in distill.items():
            if cfg is None:
                continue
            if not isinstance(cfg, dict):
                raise TypeError(f'distill[{name!r}] must be a dict (or None '
                                f'to drop it), got {type(cfg).__name__}')
            if cfg.get('name', name) != name:
                raise ValueError(f"distill[{name!r}] has name="
                                 f"{cfg['name']!r}; the key is the entry's "
                                 'name, remove `name`')
            cfgs.append(dict(cfg, name=name))
        return cfgs
    if isinstance(distill, (list, tuple)):
        return [dict(cfg) for cfg in distill]
    raise TypeError('distill must be a dict {name: entry} or a list of '
                    f'entries, got {type(distill).__name__}')
