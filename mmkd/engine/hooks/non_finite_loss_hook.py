# Copyright (c) mmkd contributors. All rights reserved.
"""Stop a run whose distillation loss is NaN/Inf: every rank at once, with
one message, and without a host sync of its own."""
import logging
import math
from collections import deque
from typing import Deque, Dict, List, Optional, Tuple

import torch
import torch.distributed as torch_dist
from mmengine.dist import get_comm_device, get_dist_info
from mmengine.hooks import Hook
from mmengine.logging import print_log

from mmkd.registry import HOOKS
from ..optimizers.loss_scale_keeper import (loss_scale_keepers,
                                            skips_overflowed_steps)
from .utils import unwrap_model

DATA_BATCH = Optional[dict]


def is_distill_loss(key: str) -> bool:
    """Whether a logged key is a distillation loss (``distill.*loss*``)."""
    return key.startswith('distill.') and 'loss' in key


def _non_finite_flag(losses: dict) -> Optional[torch.Tensor]:
    """``1`` (int32, on the losses' device) when a distillation loss of the
    forward's ``losses`` is not finite, else ``0``; None without any."""
    flags = []
    for key, value in losses.items():
        if not is_distill_loss(key):
            continue
        for tensor in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(tensor, torch.Tensor):
                flags.append(~torch.isfinite(tensor.detach()).all())
    if not flags:
        return None
    return torch.stack(flags).any().to(torch.int32).reshape(1)


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
    - **fp16 runs** (``--amp``, ``AmpOptimWrapper`` with a loss scaler): a
      non-finite forward loss gives non-finite gradients, so the loss
      scaler skips the step (no weight changes); its scale, which the
      scaler halves for such a step, is put back right after it
      (:class:`~mmkd.engine.optimizers.LossScaleKeeper`): loss scaling
      cannot fix a loss that is already NaN/Inf in the forward (e.g. a
      half-precision teacher feature that overflows;
      ``teacher_exec=dict(precision='fp32')`` keeps the teacher in fp32).
      Each such step logs a warning; when ``max_skips`` of the last
      ``window`` iterations were skipped, the run stops with the error
      above. The scaler's own overflow skips (a finite loss whose scaled
      gradients overflow) stay the scaler's: they lower the scale and are
      not counted.
    - **Several processes**: each rank's verdict (one integer: was a
      distillation loss non-finite) is summed over the run's own default
      process group (gloo on CPUs, NCCL on GPUs; the verdict on the
      backend's device); the hook makes no group of its own. The
      all-reduce is asynchronous: it starts when the distiller's forward
      returns its losses (a forward hook) and is waited for after the
      optimizer step, so it overlaps the backward and the step, and the
      ranks meet no more often than in DDP's own gradient all-reduce. A
      non-zero sum makes every rank gather the reports and act alike in
      that iteration: an fp16 run puts the scale back on every rank (the
      scales stay equal), other runs stop every rank with the same
      message; none waits in the next gradient all-reduce. On a GPU the
      sum is read after ``RuntimeInfoHook`` has copied the iteration's
      losses to the host, by when the all-reduce (queued before the
      gradients') has finished. A model whose forward is not called as a
      module (no forward hook fires) shares its logged verdict after the
      step instead and waits for it there.

    The distiller's ``check_finite=False`` turns the check off.

    Args:
        max_skips (int): non-finite forward losses an fp16 run may skip
            within ``window`` iterations; the run stops at the
            ``max_skips``-th. Defaults to 10.
        window (int): the number of most recent iterations over which fp16
            skips are counted. Defaults to 100.
    """

    priority = 'ABOVE_NORMAL'  # after RuntimeInfoHook, before checkpoints

    def __init__(self, max_skips: int = 10, window: int = 100) -> None:
        for name, value in (('max_skips', max_skips), ('window', window)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f'NonFiniteLossHook: {name}={value!r} must '
                                 'be an int >= 1')
        if max_skips > window:
            raise ValueError(
                f'NonFiniteLossHook: max_skips={max_skips} is more than '
                f'window={window}: the run could never stop; give '
                'max_skips <= window')
        self.max_skips = max_skips
        self.window = window
        self.enabled = True
        self.keepers: list = []
        #: the iterations (1-based) an fp16 run skipped, within the window
        self.skipped: Deque[int] = deque()
        self._comm_device = torch.device('cpu')
        self._forward_hook = None
        self._armed = False
        self._verdict: Optional[Tuple[object, torch.Tensor]] = None

    @property
    def skips_steps(self) -> bool:
        """Whether this run is fp16 with a loss scaler (non-finite forward
        losses are skipped and counted instead of stopping the run)."""
        return bool(self.keepers)

    def before_train(self, runner) -> None:
        model = unwrap_model(runner.model)
        self.enabled = model.check_finite
        self.keepers = loss_scale_keepers(runner.optim_wrapper) \
            if self.enabled else []
        self.skipped.clear()
        self.after_train(runner)  # a hook left by a run that raised
        _, world_size = get_dist_info()
        if world_size > 1 and self.enabled:
            self._comm_device = get_comm_device()
            self._forward_hook = model.register_forward_hook(
                self._share_from_forward)

    def after_train(self, runner) -> None:
        if self._forward_hook is not None:
            self._forward_hook.remove()
            self._forward_hook = None

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch: DATA_BATCH = None) -> None:
        if not self.enabled:
            return
        for keeper in self.keepers:
            keeper.before_iter()
        self._armed = self._forward_hook is not None
        self._verdict = None

    # ------------------------------------------------------- the verdict
    def _start_sharing(self, flag: torch.Tensor) -> None:
        """Start summing this rank's verdict over the default group."""
        flag = flag.to(self._comm_device)
        work = torch_dist.all_reduce(flag, async_op=True)
        self._verdict = (work, flag)

    def _share_from_forward(self, module, args, output) -> None:
        """Forward hook of the distiller: start the all-reduce of the
        verdict as soon as the training forward has its losses."""
        if not self._armed or not isinstance(output, dict):
            return
        flag = _non_finite_flag(output)
        if flag is not None:
            self._armed = False
            self._start_sharing(flag)

    def _share(self, mine: Optional[str]) -> List[Tuple[int, str]]:
        """``[(rank, report)]`` of the ranks that saw a non-finite loss, the
        same list on every rank."""
        rank, world_size = get_dist_info()
        if world_size == 1:
            return [] if mine is None else [(rank, mine)]
        if self._verdict is None:  # no forward hook fired: share it now
            self._start_sharing(
                torch.tensor([0 if mine is None else 1], dtype=torch.int32))
        work, flag = self._verdict
        self._verdict, self._armed = None, False
        work.wait()
        if int(flag.item()) == 0:
            return []
        reports = [None] * world_size
        torch_dist.all_gather_object(reports, mine)
        return [(r, rep) for r, rep in enumerate(reports) if rep is not None]

    # -------------------------------------------------------- the report
    @staticmethod
    def _bad_values(runner, outputs: dict) -> List[Tuple[str, float]]:
        bad = []
        for key in outputs:
            if not is_distill_loss(key):
                continue
            value = runner.message_hub.get_scalar(f'train/{key}').current()
            if not math.isfinite(value):
                bad.append((key, value))
        return bad

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
        for keeper in self.keepers:
            keeper.after_iter(forward_finite=not failed)
        if not failed:
            return
        iteration = runner.iter + 1
        where = '; '.join(f'rank {r}: {rep}' for r, rep in failed)
        skipped = 0
        if self.skips_steps:
            self.skipped.append(iteration)
            while self.skipped[0] <= iteration - self.window:
                self.skipped.popleft()
            skipped = len(self.skipped)
            if skipped < self.max_skips:
                print_log(
                    f'iteration {iteration}: non-finite distillation loss '
                    f'({where}); the fp16 loss scaler skipped this step and '
                    f'its scale was kept ({skipped} of the last '
                    f'{self.window} iterations skipped; the run stops at '
                    f'{self.max_skips})', logger='current',
                    level=logging.WARNING)
                return
        raise FloatingPointError(self.message(iteration, where, skipped))

    def message(self, iteration: int, where: str, skipped: int) -> str:
        """The error every rank raises (``skipped``: the fp16 skips counted
        in the window, 0 for other runs)."""
        fp16 = (f' ({skipped} of the last {self.window} iterations had a '
                'non-finite forward loss, each skipped by the fp16 loss '
                'scaler: not an overflow loss scaling can fix; '
                'teacher_exec=dict(precision=\'fp32\') keeps the teacher in '
                'fp32)') if skipped else ''
        return (f'non-finite distillation loss at iteration {iteration}'
                f'{fp16}: {where}. Lower the loss weight or the learning '
                'rate, or check the features (e.g. add a connector with a '
                'norm layer). Nothing was saved after this step: the last '
                'checkpoint holds the weights of a finite step.')


__all__ = ['NonFiniteLossHook', 'is_distill_loss', 'skips_overflowed_steps']
