# Copyright (c) mmkd contributors. All rights reserved.
from .runner_cfg import (build_runner, check_data_roots, is_distill_cfg,
                         prepare_test_cfg, prepare_train_cfg)

__all__ = ['build_runner', 'check_data_roots', 'is_distill_cfg',
           'prepare_test_cfg', 'prepare_train_cfg']
