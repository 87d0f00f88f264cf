# Copyright (c) mmkd contributors. All rights reserved.
"""Loading configs: local paths or package-scoped ``mmdet::...`` names."""
import os.path as osp
from typing import Optional, Union

from mmengine.config import Config, ConfigDict


def load_config(path: Union[str, Config, dict],
                cfg_options: Optional[dict] = None) -> Config:
    """Load a config from a path or a package-scoped name.

    Args:
        path: ``'configs/akd/x.py'``, ``'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'``
            or an already loaded config/dict.
        cfg_options: ``--cfg-options`` style overrides merged on top.

    Raises:
        FileNotFoundError: naming the path and where it was looked for.
    """
    if isinstance(path, Config):
        cfg = path
    elif isinstance(path, dict):
        cfg = Config(ConfigDict(path))
    elif '::' in path:
        from mmengine.config.utils import _get_package_and_cfg_path
        from mmengine.utils import get_installed_path, is_installed
        package, rel = _get_package_and_cfg_path(path)
        if not is_installed(package):
            raise FileNotFoundError(
                f'config {path!r}: package {package!r} is not installed')
        full = osp.join(get_installed_path(package), '.mim', 'configs', rel)
        if not osp.isfile(full):
            raise FileNotFoundError(
                f'config {path!r} does not exist: looked for {full}. Check '
                f'the name against the configs shipped with {package}.')
        cfg = Config.fromfile(full)
    else:
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'config file {path!r} does not exist (resolved to '
                f'{osp.abspath(path)}). Pass a path to a .py config, e.g. '
                "configs/akd/..., or a package config like 'mmdet::retinanet/"
                "retinanet_r50_fpn_1x_coco.py'.")
        cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg
