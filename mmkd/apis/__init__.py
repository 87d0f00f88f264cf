# Copyright (c) mmkd contributors. All rights reserved.
from .runner_cfg import (add_launch_args, build_runner, check_data_roots,
                         is_distill_cfg, parse_launch_args, prepare_test_cfg,
                         prepare_train_cfg)

__all__ = [
    'add_launch_args', 'parse_launch_args', 'build_runner', 'check_data_roots',
    'is_distill_cfg', 'prepare_test_cfg', 'prepare_train_cfg'
]
