# Copyright (c) mmkd contributors. All rights reserved.
"""``register_all_modules``: the OpenMMLab entry point that fills a
package's registries."""
import uuid

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every mmkd module that registers something (models, losses,
    datasets, transforms, metrics, hooks, the runner...).

    mmengine calls ``mmkd.utils.register_all_modules(False)`` itself when a
    run in the ``mmkd`` scope looks up a registry that has no import
    location (mmkd is one of the packages it resolves ``pkg::`` names for,
    see :func:`mmkd.utils.config.register_config_package`).

    Args:
        init_default_scope (bool): also make ``mmkd`` the current default
            scope, unless it is already. Defaults to True.
    """
    import mmkd.datasets  # noqa: F401
    import mmkd.engine  # noqa: F401
    import mmkd.evaluation  # noqa: F401
    import mmkd.models  # noqa: F401
    import mmkd.structures  # noqa: F401
    if init_default_scope:
        current = DefaultScope.get_current_instance()
        if current is None or current.scope_name != 'mmkd':
            DefaultScope.get_instance(f'mmkd-{uuid.uuid4().hex}',
                                      scope_name='mmkd')
