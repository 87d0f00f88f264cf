# Copyright (c) mmkd contributors. All rights reserved.
from .base import BaseDistiller
from .batch_losses import labels_from_data_samples
from .data_free_regression import (DataFreeRegressionDistiller,
                                   build_mixing_schedule)
from .distill_entry import DistillEntry, split_levels
from .multi_teacher_distiller import MultiTeacherDistiller
from .single_teacher_distiller import DISTILL_PREFIX, SingleTeacherDistiller

__all__ = [
    'BaseDistiller', 'DataFreeRegressionDistiller', 'build_mixing_schedule',
    'SingleTeacherDistiller', 'MultiTeacherDistiller', 'DistillEntry',
    'split_levels', 'labels_from_data_samples', 'DISTILL_PREFIX'
]
