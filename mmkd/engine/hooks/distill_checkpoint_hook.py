# Copyright (c) mmkd contributors. All rights reserved.
from mmengine.hooks import Hook

from mmkd.registry import HOOKS
from .utils import is_distiller, unwrap_model

DISTILL_STATE_KEY = 'distill_state_dict'


@HOOKS.register_module()
class DistillCheckpointHook(Hook):
    """Make distillation checkpoints plain student checkpoints.

    On save, distillation-only weights (connectors, learnable loss parts,
    avatar RNG state, a data-free generator: the distiller's
    :meth:`~mmkd.models.distillers.BaseDistiller.split_distill_state`) move
    from
    ``checkpoint['state_dict']`` to ``checkpoint['distill_state_dict']``; what
    is left is exactly the plain student's state dict, which
    ``init_detector``/``init_model`` and mmdet/mmseg ``tools/test.py`` load
    with no conversion (the teacher is never in it). On load (``--resume``),
    the two are merged back so connectors are restored.

    Every run of a distiller gets this hook
    (:data:`~mmkd.engine.distill_hooks.DISTILL_HOOKS`).
    """
    priority = 'VERY_LOW'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if not is_distiller(runner.model):
            return
        model = unwrap_model(runner.model)
        checkpoint[DISTILL_STATE_KEY] = model.split_distill_state(
            checkpoint['state_dict'])

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        distill = checkpoint.pop(DISTILL_STATE_KEY, None)
        if distill and is_distiller(runner.model):
            unwrap_model(runner.model).merge_distill_state(
                checkpoint['state_dict'], distill)
