# Copyright (c) mmkd contributors. All rights reserved.
"""mmkd: knowledge distillation for the OpenMMLab ecosystem."""
import os

from .utils.version_check import check_versions
from .version import __version__, version_info

if os.environ.get('MMKD_SKIP_VERSION_CHECK', '0') != '1':
    check_versions()

# mmengine>=0.10.7 checkpoints need a narrow allowlist to load under
# torch.load(weights_only=True) (torch>=2.6); installed once on import.
from .engine.checkpoint_loading import install_safe_checkpoint_loading  # noqa: E402,E501

install_safe_checkpoint_loading()

# `_base_ = ['mmkd::akd/...']` resolves once mmkd is imported
from .utils.config import register_config_package  # noqa: E402

register_config_package()

__all__ = ['__version__', 'version_info', 'check_versions']
