# Copyright (c) mmkd contributors. All rights reserved.
from .config import load_config
from .version_check import (SUPPORTED_VERSIONS, IncompatibleVersionError,
                            check_versions)

__all__ = ['load_config', 'check_versions', 'SUPPORTED_VERSIONS',
           'IncompatibleVersionError']
