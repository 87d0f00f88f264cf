# Copyright (c) mmkd contributors. All rights reserved.
from .checkpoint_loading import (UnsafeCheckpointError,
                                 install_safe_checkpoint_loading,
                                 safe_torch_load)
from .distill_hooks import (DISTILL_HOOKS, RUN_STATE_HOOKS, hook_type_name,
                            mmkd_hooks, with_mmkd_hooks)
from .hooks import *  # noqa: F401,F403
from .optimizers import *  # noqa: F401,F403
from .runner import DistillRunner, MMKDDistributedDataParallel, init_cpu_dist

__all__ = [
    'UnsafeCheckpointError', 'install_safe_checkpoint_loading',
    'safe_torch_load', 'DistillRunner', 'MMKDDistributedDataParallel',
    'init_cpu_dist', 'DISTILL_HOOKS', 'RUN_STATE_HOOKS', 'hook_type_name',
    'mmkd_hooks', 'with_mmkd_hooks'
]
