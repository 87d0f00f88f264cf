# Copyright (c) mmkd contributors. All rights reserved.
from .cpu_amp_optim_wrapper import CPUAmpOptimWrapper
from .submodule_optim_constructor import SubmoduleOptimWrapperConstructor

__all__ = ['CPUAmpOptimWrapper', 'SubmoduleOptimWrapperConstructor']
