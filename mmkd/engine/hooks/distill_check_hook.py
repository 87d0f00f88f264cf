# Copyright (c) mmkd contributors. All rights reserved.
import random

import numpy as np
from mmengine.hooks import Hook

from mmkd.registry import HOOKS
from .utils import is_distiller, unwrap_model


@HOOKS.register_module()
class DistillCheckHook(Hook):
    """Validate every distill entry on one training batch before the first
    iteration: module outputs, level counts, feature shapes vs connectors and
    what each loss accepts. A wrong config fails here with a clear message
    instead of deep inside training. Random states are restored afterwards.

    ``tools/train.py`` adds this hook to every distillation config.
    """
    priority = 'VERY_LOW'

    def before_train(self, runner) -> None:
        if not is_distiller(runner.model):
            return
        model = unwrap_model(runner.model)
        np_state, py_state = np.random.get_state(), random.getstate()
        try:
            batch = next(iter(runner.train_dataloader))
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)
        data = model.data_preprocessor(batch, True)
        shapes = model.check_distill(data['inputs'], data['data_samples'])
        for name, level_shapes in shapes.items():
            runner.logger.info(f'distill entry {name!r}: teacher feature '
                               f'shapes {level_shapes}')
