# Copyright (c) mmkd contributors. All rights reserved.
from .base import BaseDistiller
from .data_free_regression import (DataFreeRegressionDistiller,
                                   build_mixing_schedule)
from .distill_entry import DistillEntry, split_levels
from .single_teacher_distiller import (DISTILL_PREFIX, SingleTeacherDistiller,
                                       labels_from_data_samples)

__all__ = [
    'BaseDistiller', 'DataFreeRegressionDistiller', 'build_mixing_schedule',
    'SingleTeacherDistiller', 'DistillEntry', 'split_levels',
    'labels_from_data_samples', 'DISTILL_PREFIX'
]
