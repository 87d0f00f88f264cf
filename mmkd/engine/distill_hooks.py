# Copyright (c) mmkd contributors. All rights reserved.
"""Which hooks a run gets from mmkd: the one place that decides.

Every launcher path goes through :func:`with_mmkd_hooks`:

* :class:`~mmkd.engine.runner.DistillRunner` calls it in ``register_hooks``
  (configs that name ``runner_type='mmkd.DistillRunner'``, whatever builds
  the runner: mmkd's, mmdet's or mmseg's ``tools/train.py``, ``mim train``);
* :func:`mmkd.apis.prepare_train_cfg` (mmkd's ``tools/train.py``) calls it on
  the config's ``custom_hooks``, for configs that name another runner.

Both add only the hooks whose type is not listed yet, so a run never gets a
hook twice whichever path (or both) added it.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

from mmengine.hooks import Hook

# what every run through tools/train.py gets, distiller or not: atomic
# checkpoints, a resume that never starts from a broken file, and random
# states that make an epoch-boundary resume exact
RUN_STATE_HOOKS: Tuple[str, ...] = ('mmkd.CheckpointIntegrityHook',
                                    'mmkd.RandomStateHook')
# what a distiller's run gets in addition: the pre-flight check, the
# teacher check (is the teacher worth learning from), plain student
# checkpoints (and the resume of the connectors), one stop for a non-finite
# loss on every rank, one warning when the run differs from the recipe of
# its config's published result (configs/<method>/metafile.yml)
DISTILL_HOOKS: Tuple[str,
                     ...] = ('mmkd.DistillCheckpointHook',
                             'mmkd.DistillCheckHook', 'mmkd.TeacherCheckHook',
                             'mmkd.NonFiniteLossHook',
                             'mmkd.RecipeGuardHook') + RUN_STATE_HOOKS
#: the config keys that set the arguments of an added hook (a hook listed
#: in ``custom_hooks`` keeps its own): ``teacher_check=dict(enable=False)``
HOOK_OPTION_KEYS: Dict[str, str] = {'TeacherCheckHook': 'teacher_check'}


def hook_type_name(hook: Union[Hook, dict]) -> str:
    """``'DistillCheckHook'`` for a hook or a hook config of that type (any
    scope prefix)."""
    if isinstance(hook, Hook):
        return type(hook).__name__
    kind = hook.get('type')
    if isinstance(kind, type):
        return kind.__name__
    return str(kind).split('.')[-1]


def mmkd_hooks(distiller: bool) -> Sequence[str]:
    """The hook types mmkd adds to a run: :data:`DISTILL_HOOKS` for a
    distiller, :data:`RUN_STATE_HOOKS` for any other model."""
    return DISTILL_HOOKS if distiller else RUN_STATE_HOOKS


def hook_options(cfg) -> Dict[str, dict]:
    """``{hook type: its arguments}`` from a config's
    :data:`HOOK_OPTION_KEYS` (e.g. ``teacher_check=dict(num_batches=10)``).

    Raises:
        TypeError: such a key is not a dict.
    """
    options = {}
    for hook, key in HOOK_OPTION_KEYS.items():
        value = cfg.get(key) if cfg is not None else None
        if value is None:
            continue
        if not isinstance(value, dict):
            raise TypeError(
                f'`{key}` must be a dict of {hook} arguments, e.g. '
                f'{key}=dict(enable=False); got {value!r}')
        options[hook] = dict(value)
    return options


def with_mmkd_hooks(
        hooks: Optional[List[Union[Hook, dict]]], distiller: bool = True,
        options: Optional[Dict[str, dict]] = None) -> List[Union[Hook, dict]]:
    """``hooks`` plus every hook of :func:`mmkd_hooks` whose type is not in
    it yet (in that list's order), with its arguments from ``options``
    (``{hook type: kwargs}``, see :func:`hook_options`)."""
    hooks = list(hooks or [])
    present = {hook_type_name(h) for h in hooks}
    for name in mmkd_hooks(distiller):
        short = name.split('.')[-1]
        if short not in present:
            hooks.append(dict(type=name, **(options or {}).get(short, {})))
            present.add(short)
    return hooks
