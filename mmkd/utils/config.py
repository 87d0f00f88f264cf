# Copyright (c) mmkd contributors. All rights reserved.
"""Loading configs: local paths or package-scoped ``mmdet::...`` names."""
import os.path as osp
from typing import Optional, Union

from mmengine.config import Config, ConfigDict

PACKAGE_CONFIG_DIR = osp.join('.mim', 'configs')


def register_config_package() -> None:
    """Let mmengine resolve ``mmkd::`` config names.

    mmengine resolves ``pkg::path`` (in ``_base_``) only for the packages in
    its table ``mmengine.config.utils.MODULE2PACKAGE``; ``import mmkd`` adds
    ``mmkd`` to it. The files are then read from the installed package's
    ``.mim/configs`` (``pip install .`` ships them there; see setup.py).
    For a package in that table mmengine also calls
    ``mmkd.utils.register_all_modules(False)`` when a registry of the
    ``mmkd`` scope has no import location.
    """
    from mmengine.config.utils import MODULE2PACKAGE
    MODULE2PACKAGE.setdefault('mmkd', 'mmkd')


def mmkd_config_dir() -> str:
    """The folder of mmkd's configs: the package's ``.mim/configs`` (an
    installed mmkd), else ``configs/`` of the source checkout."""
    package = osp.dirname(osp.dirname(osp.abspath(__file__)))
    shipped = osp.join(package, PACKAGE_CONFIG_DIR)
    if osp.isdir(shipped):
        return shipped
    return osp.join(osp.dirname(package), 'configs')


def resolve_config_path(path: str) -> str:
    """The file of a package-scoped name (``mmkd::akd/x.py``,
    ``mmdet::retinanet/x.py``...).

    Raises:
        FileNotFoundError: naming the file looked for.
    """
    from mmengine.config.utils import _get_package_and_cfg_path
    from mmengine.utils import get_installed_path, is_installed
    scope, _, rel = path.partition('::')
    if scope == 'mmkd':
        # this very package, installed or a source checkout (an editable
        # install's location is not what mmengine's get_installed_path
        # reports)
        full = osp.join(mmkd_config_dir(), rel)
        package = 'mmkd'
    else:
        package, rel = _get_package_and_cfg_path(path)
        if not is_installed(package):
            raise FileNotFoundError(
                f'config {path!r}: package {package!r} is not installed')
        full = osp.join(get_installed_path(package), PACKAGE_CONFIG_DIR, rel)
    if not osp.isfile(full):
        raise FileNotFoundError(
            f'config {path!r} does not exist: looked for {full}. Check '
            f'the name against the configs shipped with {package}.')
    return full


def load_config(path: Union[str, Config, dict],
                cfg_options: Optional[dict] = None) -> Config:
    """Load a config from a path or a package-scoped name.

    Args:
        path: ``'configs/akd/x.py'``, ``'mmkd::akd/x.py'``,
            ``'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'``
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
        cfg = Config.fromfile(resolve_config_path(path))
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
