# Copyright (c) mmkd contributors. All rights reserved.
from typing import Optional

import torch.nn as nn
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapperDict

from mmkd.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class SubmoduleOptimWrapperConstructor:
    """One optimizer wrapper per named submodule, as an
    :class:`OptimWrapperDict` (mmengine has no built-in constructor for
    several optimizers).

    Example::

        optim_wrapper = dict(
            constructor='mmkd.SubmoduleOptimWrapperConstructor',
            student=dict(type='OptimWrapper',
                         optimizer=dict(type='RMSprop', lr=1e-3)),
            generator=dict(type='OptimWrapper',
                           optimizer=dict(type='RMSprop', lr=1e-3)))

    builds ``OptimWrapperDict(student=..., generator=...)`` over
    ``model.student`` and ``model.generator``. A key whose attribute exists
    but is ``None`` (a submodule the model does not use in this setting,
    e.g. no generator for the direct strategy) is skipped; a key the model
    has no attribute for is an error.

    Args:
        optim_wrapper_cfg (dict): ``{submodule name: optim wrapper cfg}``.
        paramwise_cfg (dict, optional): ``{submodule name: paramwise cfg}``.
    """

    def __init__(self, optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None):
        if not isinstance(optim_wrapper_cfg, dict) or not optim_wrapper_cfg:
            raise TypeError('optim_wrapper_cfg must be a non-empty dict of '
                            '{submodule name: optim wrapper config}')
        for name, cfg in optim_wrapper_cfg.items():
            if not isinstance(cfg, dict) or 'optimizer' not in cfg:
                raise ValueError(
                    f'optim_wrapper.{name} must be an optim wrapper config '
                    f"with an 'optimizer', got {cfg!r}")
        self.optim_wrapper_cfg = optim_wrapper_cfg
        self.paramwise_cfg = paramwise_cfg or {}

    def __call__(self, model: nn.Module) -> OptimWrapperDict:
        model = getattr(model, 'module', model)  # unwrap DDP-like wrappers
        wrappers = {}
        for name, cfg in self.optim_wrapper_cfg.items():
            if not hasattr(model, name):
                raise AttributeError(
                    f'optim_wrapper has a key {name!r} but '
                    f'{type(model).__name__} has no submodule of that name')
            module = getattr(model, name)
            if module is None:
                continue
            constructor = DefaultOptimWrapperConstructor(
                dict(cfg), self.paramwise_cfg.get(name))
            wrappers[name] = constructor(module)
        if not wrappers:
            raise ValueError('no optim wrapper was built: every submodule '
                             'named in optim_wrapper is None')
        return OptimWrapperDict(**wrappers)
