# Copyright (c) mmkd contributors. All rights reserved.
"""The teacher: building it from its own config and checkpoint, and how it
runs (layout, precision, BN folding, weight prepacking, compile).

Every private torch entry point these use is reached through
:mod:`mmkd.utils.torch_private`, which probes it once and falls
back to the plain path when it is missing.
"""
from .bn_folding import fold_batchnorm
from .conv_prepacking import prepack_conv_weights
from .teacher import build_teacher, load_state_dict_strict
from .teacher_execution import MEMORY_FORMATS, PRECISIONS, TeacherExecution

__all__ = [
    'build_teacher', 'load_state_dict_strict', 'TeacherExecution',
    'MEMORY_FORMATS', 'PRECISIONS', 'fold_batchnorm', 'prepack_conv_weights'
]
