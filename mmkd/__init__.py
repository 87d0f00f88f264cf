# Copyright (c) mmkd contributors. All rights reserved.
"""mmkd: knowledge distillation for the OpenMMLab ecosystem.

What importing mmkd changes outside mmkd is listed, and applied, in
:mod:`mmkd.import_effects` (docs/user_guides/import_effects.md).
"""
from .import_effects import apply_import_effects
from .utils.version_check import check_versions
from .version import __version__, version_info

apply_import_effects()

__all__ = ['__version__', 'version_info', 'check_versions']
