# Copyright (c) mmkd contributors. All rights reserved.
"""Recording what a model computes: the outputs of named modules (the
features a distill entry compares) and the inputs relayed from the student
to the teacher."""
from .input_relay import StudentInputRelay, collect_relay_specs
from .levels import split_levels
from .recorder import ModuleOutputRecorder, StopForward, get_module

__all__ = [
    'ModuleOutputRecorder', 'StopForward', 'get_module', 'StudentInputRelay',
    'collect_relay_specs', 'split_levels'
]
