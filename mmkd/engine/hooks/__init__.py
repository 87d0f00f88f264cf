# Copyright (c) mmkd contributors. All rights reserved.
from .best_state_hook import BestStateHook
from .distill_check_hook import DistillCheckHook
from .distill_checkpoint_hook import DISTILL_STATE_KEY, DistillCheckpointHook
from .distill_weight_schedule_hook import DistillWeightScheduleHook
from .non_finite_loss_hook import NonFiniteLossHook

__all__ = [
    'BestStateHook', 'NonFiniteLossHook',
    'DistillCheckHook', 'DistillCheckpointHook', 'DistillWeightScheduleHook',
    'DISTILL_STATE_KEY'
]
from .lsh_median_bias_hook import LSHMedianBiasHook  # noqa: E402

__all__ += ['LSHMedianBiasHook']
from .checkpoint_integrity_hook import CheckpointIntegrityHook  # noqa: E402
from .random_state_hook import RANDOM_STATE_KEY, RandomStateHook  # noqa: E402,E501

__all__ += ['CheckpointIntegrityHook', 'RandomStateHook', 'RANDOM_STATE_KEY']
