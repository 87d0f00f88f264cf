# Copyright (c) mmkd contributors. All rights reserved.
from mmengine.dist import all_gather_object, get_dist_info
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

    Then, on the same batch, the teacher's layout: its recorded outputs
    against the NCHW teacher's (``check_teacher_layout``, see
    :mod:`~mmkd.models.teacher.teacher_layout_check`); a module where they
    differ is kept NCHW, with one warning naming it.

    In a multi-process run every rank checks the same first batch, a
    failure on any rank raises on every rank with one message, and every
    rank keeps NCHW the modules any rank found.

    Every run of a distiller gets this hook
    (:data:`~mmkd.engine.distill_hooks.DISTILL_HOOKS`).
    """
    priority = 'VERY_LOW'

    def before_train(self, runner) -> None:
        if not is_distiller(runner.model):
            return
        model = unwrap_model(runner.model)

        def on_first_batch(check):
            # every rank the same first batch (the same random draws of
            # the pipeline for both checks); a failure on any rank stops
            # every rank with the same message
            def run():
                with preserved_rng_state():
                    return check(next(train_batches(runner, 1)))

            return run_on_all_ranks(run)

        shapes = on_first_batch(model.check_distill_batch)
        for name, level_shapes in shapes.items():
            runner.logger.info(f'distill entry {name!r}: teacher feature '
                               f'shapes {level_shapes}')
        found = on_first_batch(model.check_teacher_layout)
        if get_dist_info()[1] > 1:  # the same layout on every rank
            for other in all_gather_object(found):
                for path, reason in other.items():
                    found.setdefault(path, reason)
        model.keep_teacher_nchw(found)
