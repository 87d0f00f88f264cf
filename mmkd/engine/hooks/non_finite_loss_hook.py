# Copyright (c) mmkd contributors. All rights reserved.
"""Stop a run whose distillation loss is NaN/Inf: every rank at once, with
one message, and without a host sync of its own."""
import logging
import math
from typing import Dict, List, Optional, Tuple

import torch
import torch.distributed as torch_dist
from mmengine.dist import get_dist_info
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.optim import AmpOptimWrapper, OptimWrapperDict

from mmkd.registry import HOOKS
from .utils import unwrap_model

DATA_BATCH = Optional[dict]


def _wrappers(optim_wrapper) -> list:
    if isinstance(optim_wrapper, OptimWrapperDict):
        return list(optim_wrapper.values())
    return [optim_wrapper]


def skips_overflowed_steps(optim_wrapper) -> bool:
    """Whether the run's optimizer wrapper skips a step whose gradients are
    not finite: mmengine's ``AmpOptimWrapper`` with an fp16 cast and an
    enabled loss scaler (bf16 and fp32 runs do not scale the loss)."""
    for wrapper in _wrappers(optim_wrapper):
        if not isinstance(wrapper, AmpOptimWrapper):
            return False
        if wrapper.cast_dtype not in (None, torch.float16):
            return False
        scaler = getattr(wrapper, 'loss_scaler', None)
        if scaler is None or not scaler.is_enabled():
            return False
    return True


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Stop training when a distillation loss is NaN or Inf.

    It reads the values the run logs anyway (``distill.*loss*`` of the
    iteration's outputs, which mmengine's ``RuntimeInfoHook`` has already
    copied to the host), so on a GPU it adds no host synchronisation.

    - **fp32 and bf16 runs**: the first non-finite value stops the run with
      a ``FloatingPointError`` naming the entry, the level, the iteration
      and the rank. The step that produced it was already applied (the
      check reads the logged value), but nothing is saved after it: this
      hook runs before ``CheckpointHook``, so the last checkpoint holds the
      weights of the last finite step.
    - **fp16 runs** (``--amp``, ``AmpOptimWrapper`` with a dynamic loss
      scaler): a non-finite loss gives non-finite gradients, so the loss
      scaler skips that step (no weight changes) and halves its scale.
      mmkd logs a warning for each such step and stops with the same error
      after ``patience`` consecutive ones (a loss that stays non-finite is
      not an overflow the scaler can fix, e.g. a half-precision feature
      that overflows: ``teacher_exec=dict(precision='fp32')`` keeps the
      teacher in fp32).
    - **Several processes**: each rank's verdict is shared every iteration
      (a one-integer all-reduce over a ``gloo`` group, on the host), so a
      rank whose loss is non-finite stops every rank in the same iteration
      with the same message; none waits in the next gradient all-reduce.

    The distiller's ``check_finite=False`` turns the check off.

    Args:
        patience (int): consecutive non-finite steps an fp16 run may skip
            before it stops. Defaults to 10.
    """

    priority = 'ABOVE_NORMAL'  # after RuntimeInfoHook, before checkpoints

    def __init__(self, patience: int = 10) -> None:
        if not isinstance(patience, int) or patience < 1:
            raise ValueError(f'NonFiniteLossHook: patience={patience!r} must '
                             'be an int >= 1')
        self.patience = patience
        self.enabled = True
        self.skips_steps = False
        self.skipped = 0
        self._group = None

    def before_train(self, runner) -> None:
        self.enabled = unwrap_model(runner.model).check_finite
        self.skips_steps = skips_overflowed_steps(runner.optim_wrapper)
        self.skipped = 0
        _, world_size = get_dist_info()
        if world_size > 1 and self.enabled and \
                torch_dist.get_backend() != 'gloo':
            # verdicts travel on the host, not through the GPU
            self._group = torch_dist.new_group(backend='gloo')

    @staticmethod
    def _bad_values(runner, outputs: dict) -> List[Tuple[str, float]]:
        bad = []
        for key in outputs:
            if not (key.startswith('distill.') and 'loss' in key):
                continue
            value = runner.message_hub.get_scalar(f'train/{key}').current()
            if not math.isfinite(value):
                bad.append((key, value))
        return bad

    def _share(self, mine: Optional[str]) -> List[Tuple[int, str]]:
        """``[(rank, report)]`` of the ranks that saw a non-finite loss, the
        same list on every rank."""
        rank, world_size = get_dist_info()
        if world_size == 1:
            return [] if mine is None else [(rank, mine)]
        flag = torch.tensor([0 if mine is None else 1], dtype=torch.int64)
        torch_dist.all_reduce(flag, group=self._group)
        if int(flag) == 0:
            return []
        reports = [None] * world_size
        torch_dist.all_gather_object(reports, mine, group=self._group)
        return [(r, rep) for r, rep in enumerate(reports) if rep is not None]

    @staticmethod
    def _report(runner, bad: List[Tuple[str, float]]) -> str:
        levels: Dict[str,
                     list] = unwrap_model(runner.model).last_level_losses()
        parts = []
        for key, value in bad:
            name = key[len('distill.'):].rsplit('.', 1)[0]
            text = f'{key} = {value}'
            if name in levels:
                per_level = [float(v) for v in levels[name]]
                odd = [
                    i for i, v in enumerate(per_level) if not math.isfinite(v)
                ]
                if len(per_level) > 1 and odd:
                    text += f' (level {", ".join(map(str, odd))})'
            parts.append(text)
        return ', '.join(parts)

    def after_train_iter(self, runner, batch_idx: int,
                         data_batch: DATA_BATCH = None,
                         outputs: Optional[dict] = None) -> None:
        if not self.enabled or outputs is None:
            return
        bad = self._bad_values(runner, outputs)
        failed = self._share(self._report(runner, bad) if bad else None)
        if not failed:
            self.skipped = 0
            return
        where = '; '.join(f'rank {r}: {rep}' for r, rep in failed)
        if self.skips_steps:
            self.skipped += 1
            if self.skipped < self.patience:
                print_log(
                    f'iteration {runner.iter + 1}: non-finite distillation '
                    f'loss ({where}); the fp16 loss scaler skipped this step '
                    f'({self.skipped} in a row; the run stops after '
                    f'{self.patience})', logger='current',
                    level=logging.WARNING)
                return
        raise FloatingPointError(
            self.message(runner.iter + 1, where, self.skipped))

    def message(self, iteration: int, where: str, skipped: int) -> str:
        """The error every rank raises."""
        fp16 = (f' after {skipped} consecutive steps skipped by the fp16 '
                'loss scaler (the loss stays non-finite: not an overflow '
                'the scaler can fix; teacher_exec=dict(precision=\'fp32\') '
                'keeps the teacher in fp32)') if skipped else ''
        return (f'non-finite distillation loss at iteration {iteration}'
                f'{fp16}: {where}. Lower the loss weight or the learning '
                'rate, or check the features (e.g. add a connector with a '
                'norm layer). Nothing was saved after this step: the last '
                'checkpoint holds the weights of a finite step.')


__all__ = ['NonFiniteLossHook', 'skips_overflowed_steps']
