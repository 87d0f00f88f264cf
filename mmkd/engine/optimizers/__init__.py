# Copyright (c) mmkd contributors. All rights reserved.
from .submodule_optim_constructor import SubmoduleOptimWrapperConstructor

__all__ = ['SubmoduleOptimWrapperConstructor']
