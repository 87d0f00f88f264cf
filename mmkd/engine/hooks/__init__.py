# Copyright (c) mmkd contributors. All rights reserved.
from .distill_check_hook import DistillCheckHook
from .distill_checkpoint_hook import DISTILL_STATE_KEY, DistillCheckpointHook
from .distill_weight_schedule_hook import DistillWeightScheduleHook

__all__ = [
    'DistillCheckHook', 'DistillCheckpointHook', 'DistillWeightScheduleHook',
    'DISTILL_STATE_KEY'
]
