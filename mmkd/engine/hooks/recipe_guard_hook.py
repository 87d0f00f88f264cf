# Copyright (c) mmkd contributors. All rights reserved.
"""Warn, once, when a run differs from the recipe of the published result
its config targets."""
import logging
from typing import Optional

from mmengine.hooks import Hook

from mmkd.registry import HOOKS
from mmkd.utils.metafile import find_recipe, guard_message, run_recipe


@HOOKS.register_module()
class RecipeGuardHook(Hook):
    """Before the first iteration, compare the run with the recipe of its
    config's metafile entry (``configs/<method>/metafile.yml``, read by
    :mod:`mmkd.utils.metafile`): the total batch (world size x
    ``train_dataloader.batch_size``) and the schedule (``train_cfg``'s
    ``max_epochs`` / ``max_iters``). When either differs, one warning says
    what differs, what the published (or, for a toy config, measured)
    number assumed, and how to match it (``auto_scale_lr``, the
    ``--cfg-options`` to set). It never stops a run and changes nothing in
    it; a config without an entry (or a run without a config file) is left
    alone.

    The entry is found from the runner's ``cfg.filename`` (its path under
    ``configs/``, so the launch directory does not matter; a ``mmkd::``
    name resolves to the installed ``.mim/configs``).

    Every run of a distiller gets this hook
    (:data:`~mmkd.engine.distill_hooks.DISTILL_HOOKS`).

    Args:
        config_dir (str, optional): the folder of the metafiles
            (``<folder>/metafile.yml``). Defaults to mmkd's configs.
    """
    priority = 'LOWEST'

    def __init__(self, config_dir: Optional[str] = None) -> None:
        self.config_dir = config_dir
        #: the warning given, None when the run matched (or had no entry)
        self.message: Optional[str] = None

    def before_train(self, runner) -> None:
        cfg = runner.cfg
        try:
            entry = find_recipe(
                getattr(cfg, 'filename', None), self.config_dir)
        except Exception as exc:  # a bad metafile must not stop training
            runner.logger.warning(
                f'Recipe guard: could not read the metafiles: {exc}')
            return
        if entry is None:
            return
        run = run_recipe(cfg, runner.world_size)
        self.message = guard_message(entry, run, cfg.get('auto_scale_lr'))
        if self.message is None:
            runner.logger.info(
                f'Recipe guard: {entry.config} runs its recipe '
                f'({entry.status} {entry.metric} {entry.value:g})')
        elif runner.rank == 0:
            runner.logger.log(logging.WARNING, self.message)
