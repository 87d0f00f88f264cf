# Copyright (c) mmkd contributors. All rights reserved.
from .checkpoint_loading import (UnsafeCheckpointError,
                                 install_safe_checkpoint_loading,
                                 safe_torch_load)
from .hooks import *  # noqa: F401,F403
from .optimizers import *  # noqa: F401,F403
from .runner import (DistillRunner, MMKDDistributedDataParallel,
                     init_cpu_dist, with_distill_hooks)

__all__ = ['UnsafeCheckpointError', 'install_safe_checkpoint_loading',
           'safe_torch_load', 'DistillRunner', 'MMKDDistributedDataParallel',
           'init_cpu_dist', 'with_distill_hooks']
