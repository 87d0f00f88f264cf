# Copyright (c) mmkd contributors. All rights reserved.
from mmengine.hooks import Hook

from mmkd.registry import HOOKS
from mmkd.utils.dist import run_on_all_ranks
from .utils import (is_distiller, preserved_rng_state, train_batches,
                    unwrap_model)


@HOOKS.register_module()
class DistillCheckHook(Hook):
    """Validate every distill entry on one training batch before the first
    iteration: module outputs, level counts, feature shapes vs connectors and
    what each loss accepts. A wrong config fails here with a clear message
    instead of deep inside training. Random states are restored afterwards.

    In a multi-process run every rank checks the same first batch, and a
    failure on any rank raises on every rank with one message.

    Every run of a distiller gets this hook
    (:data:`~mmkd.engine.distill_hooks.DISTILL_HOOKS`).
    """
    priority = 'VERY_LOW'

    def before_train(self, runner) -> None:
        if not is_distiller(runner.model):
            return
        model = unwrap_model(runner.model)

        def check():
            with preserved_rng_state():
                return model.check_distill_batch(
                    next(train_batches(runner, 1)))

        # every rank checks the same first batch; a failure on any rank
        # stops every rank with the same message
        shapes = run_on_all_ranks(check)
        for name, level_shapes in shapes.items():
            runner.logger.info(f'distill entry {name!r}: teacher feature '
                               f'shapes {level_shapes}')
