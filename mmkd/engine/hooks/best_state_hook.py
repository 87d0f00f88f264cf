# Copyright (c) mmkd contributors. All rights reserved.
from typing import Dict, Optional

from mmengine.hooks import Hook

from mmkd.registry import HOOKS
from .utils import unwrap_model


@HOOKS.register_module()
class BestStateHook(Hook):
    """Keep the model state with the best validation metric in memory and
    put it back into the model after training.

    The in-memory counterpart of ``CheckpointHook(save_best=...)`` for tiny
    models validated very often (e.g. after every epoch, as the data-free
    regression protocol does): writing a checkpoint serialises the whole
    config each time, which costs far more than the training step. After
    ``runner.train()`` the model holds the best state, so ``runner.test()``
    evaluates it; ``save_filename`` also writes it once at the end.

    Args:
        key (str): validation metric to monitor. Defaults to ``'rmse'``.
        rule (str): ``'less'`` or ``'greater'``. Defaults to ``'less'``.
        save_filename (str, optional): if given, ``runner.save_checkpoint``
            writes the best state under this name in the work dir after
            training.
    """
    priority = 'LOW'

    def __init__(self, key: str = 'rmse', rule: str = 'less',
                 save_filename: Optional[str] = None):
        if rule not in ('less', 'greater'):
            raise ValueError(f"rule must be 'less' or 'greater', got {rule!r}")
        self.key = key
        self.rule = rule
        self.save_filename = save_filename
        self.best_score: Optional[float] = None
        self.best_iter: Optional[int] = None
        self.best_state: Optional[Dict] = None

    def _better(self, score: float) -> bool:
        if self.best_score is None:
            return True
        if self.rule == 'less':
            return score < self.best_score
        return score > self.best_score

    def after_val_epoch(self, runner, metrics: Optional[Dict] = None) -> None:
        if not metrics:
            return
        if self.key not in metrics:
            raise KeyError(f'BestStateHook monitors {self.key!r} but the '
                           f'validation metrics are {sorted(metrics)}')
        score = float(metrics[self.key])
        if self._better(score):
            self.best_score, self.best_iter = score, runner.iter
            state = unwrap_model(runner.model).state_dict()
            self.best_state = {k: v.detach().clone() for k, v in state.items()}

    def after_train(self, runner) -> None:
        if self.best_state is None:
            return
        unwrap_model(runner.model).load_state_dict(self.best_state)
        runner.message_hub.update_info('best_score', self.best_score)
        runner.logger.info(f'restored the best state ({self.key} '
                           f'{self.best_score:.4f} at iteration '
                           f'{self.best_iter})')
        if self.save_filename:
            from ..checkpoint_files import ATOMIC_BACKEND, is_local

            # written atomically: complete or absent, never truncated
            backend = dict(
                backend=ATOMIC_BACKEND) if is_local(runner.work_dir) else None
            runner.save_checkpoint(runner.work_dir, self.save_filename,
                                   save_optimizer=False,
                                   save_param_scheduler=False,
                                   backend_args=backend)
