# Copyright (c) mmkd contributors. All rights reserved.
from .cpu_amp_optim_wrapper import CPUAmpOptimWrapper
from .loss_scale_keeper import (LossScaleKeeper, loss_scale_keepers,
                                skips_overflowed_steps)
from .submodule_optim_constructor import SubmoduleOptimWrapperConstructor

__all__ = [
    'CPUAmpOptimWrapper', 'LossScaleKeeper',
    'SubmoduleOptimWrapperConstructor', 'loss_scale_keepers',
    'skips_overflowed_steps'
]
