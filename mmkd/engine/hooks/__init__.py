# Copyright (c) mmkd contributors. All rights reserved.
from .best_state_hook import BestStateHook
from .checkpoint_integrity_hook import CheckpointIntegrityHook
from .distill_check_hook import DistillCheckHook
from .distill_checkpoint_hook import DISTILL_STATE_KEY, DistillCheckpointHook
from .distill_weight_schedule_hook import DistillWeightScheduleHook
from .lsh_median_bias_hook import LSHMedianBiasHook
from .non_finite_loss_hook import NonFiniteLossHook
from .random_state_hook import RANDOM_STATE_KEY, RandomStateHook
from .recipe_guard_hook import RecipeGuardHook
from .teacher_check_hook import TeacherCheckHook

__all__ = [
    'BestStateHook', 'CheckpointIntegrityHook', 'DistillCheckHook',
    'DistillCheckpointHook', 'DistillWeightScheduleHook', 'LSHMedianBiasHook',
    'NonFiniteLossHook', 'RandomStateHook', 'RecipeGuardHook',
    'TeacherCheckHook', 'DISTILL_STATE_KEY', 'RANDOM_STATE_KEY'
]
