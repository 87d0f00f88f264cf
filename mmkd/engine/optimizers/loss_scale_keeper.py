# Copyright (c) mmkd contributors. All rights reserved.
"""Keep the fp16 loss scale through steps whose forward loss is not
finite."""
from typing import List, Optional

import torch
from mmengine.optim import AmpOptimWrapper, OptimWrapperDict
from torch import Tensor


def optim_wrappers(optim_wrapper) -> list:
    """The wrappers of a run: those of an ``OptimWrapperDict``, or the one
    wrapper."""
    if isinstance(optim_wrapper, OptimWrapperDict):
        return list(optim_wrapper.values())
    return [optim_wrapper]


def skips_overflowed_steps(optim_wrapper) -> bool:
    """Whether the run's optimizer wrapper skips a step whose gradients are
    not finite: mmengine's ``AmpOptimWrapper`` with an fp16 cast and an
    enabled loss scaler (bf16 and fp32 runs do not scale the loss)."""
    for wrapper in optim_wrappers(optim_wrapper):
        if not isinstance(wrapper, AmpOptimWrapper):
            return False
        if wrapper.cast_dtype not in (None, torch.float16):
            return False
        scaler = getattr(wrapper, 'loss_scaler', None)
        if scaler is None or not scaler.is_enabled():
            return False
    return True


class LossScaleKeeper:
    """Put back the loss scale of one ``AmpOptimWrapper`` after an optimizer
    step whose *forward* loss was not finite.

    torch's ``GradScaler`` skips a step whose gradients are not finite and
    multiplies its scale by ``backoff_factor``. For scaled gradients that
    overflowed, that is the cure. A loss that is NaN/Inf already in the
    forward (e.g. a teacher feature that overflows in half precision) gives
    non-finite gradients at any scale, so each such step would halve the
    scale for nothing, until the gradients of the finite steps underflow.

    The keeper reads the scale before each optimizer step (at the first
    iteration of its gradient-accumulation window) and, when any forward
    loss of the window was not finite, writes it back right after the step
    (``GradScaler.update(new_scale=...)``): the step stays skipped by the
    scaler, the scale stays where it was; the scaler's growth counter
    restarts, as after any skipped step. Steps whose loss was finite (the
    scaler's own overflow skips included) are left to the scaler.

    The scale is read and written as a tensor on the scaler's device
    (``GradScaler.get_scale()`` would copy it to the host): no host
    synchronisation.

    The step is skipped because a non-finite loss makes the gradients
    non-finite; a non-finite term without a gradient (a constant) would
    leave the gradients finite, and that step is applied as the scaler
    decides.

    Args:
        wrapper (AmpOptimWrapper): the wrapper whose ``loss_scaler`` is
            kept (mmengine's, with an enabled dynamic or static scaler).
    """

    def __init__(self, wrapper: AmpOptimWrapper) -> None:
        self.wrapper = wrapper
        self.scaler = wrapper.loss_scaler
        first = wrapper.optimizer.param_groups[0]['params'][0]
        # the scaler creates its scale on the loss's device: the model's
        self._one = torch.ones((), device=first.device)
        self._start: Optional[Tensor] = None
        self._owed = False

    def scale(self) -> Tensor:
        """The current scale, a 0-dim float32 tensor on the scaler's
        device."""
        return self.scaler.scale(self._one)

    def before_iter(self) -> None:
        """Read the scale at the first iteration of an accumulation
        window."""
        if self._start is None:
            self._start = self.scale()

    def after_iter(self, forward_finite: bool) -> bool:
        """After the iteration's ``update_params``: note whether its forward
        loss was finite; after the window's optimizer step, put the scale
        of the window's start back when a forward loss of the window was
        not. Returns whether the scale was put back."""
        self._owed = self._owed or not forward_finite
        if not self.wrapper.should_update():
            return False  # gradients still accumulate: no step yet
        restored = self._owed and self._start is not None
        if restored:
            self.scaler.update(new_scale=self._start)
        self._start, self._owed = None, False
        return restored


def loss_scale_keepers(optim_wrapper) -> List[LossScaleKeeper]:
    """One :class:`LossScaleKeeper` per wrapper of an fp16 run with loss
    scaling (:func:`skips_overflowed_steps`); none for other runs."""
    if not skips_overflowed_steps(optim_wrapper):
        return []
    return [LossScaleKeeper(w) for w in optim_wrappers(optim_wrapper)]


__all__ = [
    'LossScaleKeeper', 'loss_scale_keepers', 'optim_wrappers',
    'skips_overflowed_steps'
]
