# Copyright (c) mmkd contributors. All rights reserved.
from typing import Optional

from mmengine.hooks import Hook

from mmkd.registry import HOOKS
from .utils import unwrap_model


@HOOKS.register_module()
class DistillWeightScheduleHook(Hook):
    """Schedule the weight of all distillation losses of a distiller.

    The weight rises linearly over the warm-up, as DKD/RLD do
    (``min((epoch + 1) / warmup_epochs, 1)``, epochs counted from 0), and
    drops to 0 from ``stop_epoch``/``stop_iter`` on (distillation runs for
    epochs ``< stop_epoch``), as recipes that finish with the task loss
    alone need; with weight 0 the teacher is not run at all.

    Args:
        warmup_epochs (int): length of a by-epoch linear warm-up.
        warmup_iters (int): length of a by-iteration linear warm-up.
        stop_epoch (int, optional): first epoch without distillation.
        stop_iter (int, optional): first iteration without distillation.
    """
    priority = 'HIGH'

    def __init__(self, warmup_epochs: int = 0, warmup_iters: int = 0,
                 stop_epoch: Optional[int] = None,
                 stop_iter: Optional[int] = None) -> None:
        for name, value in (('warmup_epochs', warmup_epochs), ('warmup_iters',
                                                               warmup_iters),
                            ('stop_epoch', stop_epoch), ('stop_iter',
                                                         stop_iter)):
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValueError(f'{name} must be a non-negative int, got '
                                 f'{value!r}')
        if warmup_epochs and warmup_iters:
            raise ValueError('give warmup_epochs or warmup_iters, not both')
        self.warmup_epochs = warmup_epochs
        self.warmup_iters = warmup_iters
        self.stop_epoch = stop_epoch
        self.stop_iter = stop_iter

    def weight(self, epoch: int, iteration: int) -> float:
        """The distillation weight at 0-based ``epoch`` and ``iteration``."""
        if (self.stop_epoch is not None and epoch >= self.stop_epoch) or (
                self.stop_iter is not None and iteration >= self.stop_iter):
            return 0.0
        if self.warmup_epochs:
            return min((epoch + 1) / self.warmup_epochs, 1.0)
        if self.warmup_iters:
            return min((iteration + 1) / self.warmup_iters, 1.0)
        return 1.0

    def before_train(self, runner) -> None:
        if not hasattr(unwrap_model(runner.model), 'distill_weight'):
            raise TypeError(
                'DistillWeightScheduleHook needs a distiller model (with a '
                f'`distill_weight`), got {type(unwrap_model(runner.model))}')

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        weight = self.weight(runner.epoch, runner.iter)
        unwrap_model(runner.model).distill_weight = weight
        runner.message_hub.update_scalar('train/distill_weight', weight)
