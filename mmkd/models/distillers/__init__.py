# Copyright (c) mmkd contributors. All rights reserved.
from .base import BaseDistiller
from .data_free_regression import (DataFreeRegressionDistiller,
                                   build_mixing_schedule)
from .distill_entry import DistillEntry, split_levels
from .input_relay import StudentInputRelay
from .recorder import ModuleOutputRecorder, StopForward, get_module
from .single_teacher_distiller import (DISTILL_PREFIX,
                                       SingleTeacherDistiller,
                                       labels_from_data_samples)
from .teacher import build_teacher, load_state_dict_strict

__all__ = [
    'BaseDistiller',    'DataFreeRegressionDistiller', 'build_mixing_schedule',
    'SingleTeacherDistiller', 'DistillEntry', 'ModuleOutputRecorder',
    'StopForward', 'get_module', 'split_levels', 'build_teacher',
    'load_state_dict_strict', 'labels_from_data_samples', 'DISTILL_PREFIX',
    'StudentInputRelay'
]
