# Copyright (c) mmkd contributors. All rights reserved.
from .config import load_config
from .data_root import DATA_ROOT_ENV, data_root, expand_data_root
from .setup_env import register_all_modules
from .version_check import (COMPATIBILITY, SUPPORTED_VERSIONS,
                            IncompatibleVersionError, UntestedVersionWarning,
                            check_versions)

__all__ = [
    'load_config', 'check_versions', 'SUPPORTED_VERSIONS', 'COMPATIBILITY',
    'IncompatibleVersionError', 'UntestedVersionWarning', 'DATA_ROOT_ENV',
    'data_root', 'expand_data_root', 'register_all_modules'
]
