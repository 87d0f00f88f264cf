# Copyright (c) mmkd contributors. All rights reserved.
"""Build a frozen teacher from its own config and a strictly loaded
checkpoint."""
import copy
import os.path as osp
import warnings
from typing import Callable, Optional, Tuple, Union

import torch.nn as nn
from mmengine.config import Config, ConfigDict
from mmengine.registry import DefaultScope
from mmengine.runner.checkpoint import CheckpointLoader

from mmkd.registry import MODELS
from mmkd.utils.config import load_config


def _build_in_scope(model_cfg: dict, scope: Optional[str]) -> nn.Module:
    if scope is None:
        return MODELS.build(model_cfg)
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(model_cfg)


def teacher_model_cfg(
        teacher: Union[dict, ConfigDict]) -> Tuple[dict, Optional[str]]:
    """Return ``(model_cfg, default_scope)`` of a teacher spec.

    ``teacher`` is
    ``dict(config=PATH_OR_PKG, checkpoint=..., cfg_options=...)``
    (the config file's ``model`` is used, built in its ``default_scope``) or
    ``dict(model=MODEL_CFG, checkpoint=...)``.
    """
    if not isinstance(teacher, dict):
        raise TypeError('teacher must be a dict with `config` (a config file '
                        'or mmdet::/mmseg:: name) or `model`, and '
                        f'`checkpoint`; got {type(teacher).__name__}')
    unknown = set(teacher) - {
        'config', 'model', 'checkpoint', 'cfg_options', 'default_scope'
    }
    if unknown:
        raise ValueError(f'unknown teacher keys {sorted(unknown)}; expected '
                         'config or model, checkpoint, cfg_options')
    if ('config' in teacher) == ('model' in teacher):
        raise ValueError('teacher needs exactly one of `config` (a config '
                         'file whose `model` is the teacher) or `model`')
    if 'config' in teacher:
        cfg = teacher['config']
        cfg = load_config(
            cfg if isinstance(cfg, (str, Config)) else dict(cfg),
            teacher.get('cfg_options'))
        if 'model' not in cfg:
            raise ValueError(f'teacher config {teacher["config"]!r} has no '
                             '`model`')
        model_cfg = cfg.model
        scope = teacher.get('default_scope', cfg.get('default_scope'))
    else:
        model_cfg = teacher['model']
        scope = teacher.get('default_scope')
    # mmdet reads nested configs by attribute (train_cfg.rpn): ConfigDict
    return ConfigDict(copy.deepcopy(model_cfg)), scope


def _shape(value) -> str:
    return str(tuple(value.shape)) if hasattr(value, 'shape') else \
        type(value).__name__


def _class_count_hint(model: nn.Module, state: dict, own: dict, bad: list,
                      role: str) -> Optional[str]:
    """When only classifier layers differ: which head, how many classes the
    config and (by the layer sizes) the checkpoint have."""
    found = set()
    for key in bad:
        parts = key.split('.')[:-1]
        owner = next(
            (p for p in ('.'.join(parts[:i]) for i in range(len(parts), 0, -1))
             if isinstance(
                 getattr(model.get_submodule(p), 'num_classes', None), int)),
            None)
        if owner is None:
            return None
        ours = model.get_submodule(owner).num_classes
        theirs, mine = state[key].shape[0], own[key].shape[0]
        if mine == ours + 1:  # softmax heads: classes + background
            count = theirs - 1
        elif (theirs * ours) % mine == 0:  # e.g. anchors x classes
            count = theirs * ours // mine
        else:
            return None
        found.add((owner, ours, count))
    if len({(o, n) for o, n, _ in found}) != len(found):
        return None
    heads = ', '.join(f'{o} (num_classes={n} in the config, {c} in the '
                      'checkpoint)' for o, n, c in sorted(found))
    opts = ', '.join(f"'model.{o}.num_classes': {c}"
                     for o, _, c in sorted(found))
    return (f'Only the class layers differ: the number of classes does not '
            f'match in {heads}. If the checkpoint is the right one, give the '
            f'{role} dict cfg_options={{{opts}}}.')


def check_state_shapes(model: nn.Module, state: dict, checkpoint: str,
                       role: str = 'teacher') -> None:
    """Raise a ValueError naming every key whose tensor shape differs
    between ``state`` (the checkpoint's) and ``model``, with both shapes and
    the fix (torch's own error lists the shapes but not the cause)."""
    own = model.state_dict()
    bad = [
        k for k, v in state.items() if k in own and hasattr(v, 'shape')
        and tuple(v.shape) != tuple(own[k].shape)
    ]
    if not bad:
        return
    lines = [
        f'  {k}: checkpoint {_shape(state[k])}, {role} model '
        f'{_shape(own[k])}' for k in bad[:8]
    ]
    if len(bad) > 8:
        lines.append(f'  ... ({len(bad)} of the {len(own)} keys in all)')
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        lines.append(f'  and {len(missing)} key(s) of the {role} model are '
                     f'not in the checkpoint, {len(unexpected)} checkpoint '
                     'key(s) not in the model')
    hint = None if missing or unexpected else _class_count_hint(
        model, state, own, bad, role)
    hint = hint or (f'The checkpoint holds another model (another depth, '
                    f'width or head) than the {role} config builds.')
    raise ValueError(
        f'{role} checkpoint {checkpoint!r} was not trained with this {role} '
        f'config: {len(bad)} weight(s) have other shapes:\n' +
        '\n'.join(lines) + f'\n{hint} Fix: set the {role} `config` to the '
        'config the checkpoint was trained with (or its `checkpoint` to a '
        f'checkpoint of this config), or override the differing settings '
        f'with `cfg_options` in the {role} dict.')


def load_state_dict_strict(model: nn.Module, checkpoint: str,
                           role: str = 'teacher',
                           check_state: Optional[Callable] = None) -> None:
    """Load ``checkpoint`` into ``model``; any missing or unexpected key is an
    error listing them. ``check_state(model, state_dict)``, if given, may
    refuse the loaded state dict first with a more specific message."""
    if '://' not in checkpoint and not osp.isfile(checkpoint):
        raise FileNotFoundError(
            f'{role} checkpoint {checkpoint!r} does not exist. Train the '
            f'{role} first (python tools/train.py <its config>) or download '
            'it from the model zoo, and point `checkpoint` at the .pth file.')
    ckpt = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu')
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else ckpt
    state = {
        (k[len('module.'):] if k.startswith('module.') else k): v
        for k, v in state.items()
    }

    def show(keys):
        return ', '.join(
            keys[:8]) + (f' ... ({len(keys)} in all)' if len(keys) > 8 else '')

    if check_state is not None:
        check_state(model, state)
    check_state_shapes(model, state, checkpoint, role)
    result = model.load_state_dict(state, strict=False)
    missing, unexpected = result.missing_keys, result.unexpected_keys
    if missing or unexpected:
        raise KeyError(
            f'{role} checkpoint {checkpoint!r} does not match the {role} '
            f'model: missing keys [{show(missing)}]; unexpected keys '
            f'[{show(unexpected)}]. Check that the {role} config is the one '
            'the checkpoint was trained with.')


def build_teacher(teacher: Union[dict, ConfigDict],
                  prepare_cfg: Optional[Callable] = None,
                  check_state: Optional[Callable] = None) -> nn.Module:
    """Build, load (strictly) and freeze a teacher. It stays in eval mode.

    Args:
        teacher (dict): see :func:`teacher_model_cfg`.
        prepare_cfg (callable, optional): ``f(model_cfg) -> model_cfg``,
            e.g. to fill in a size the distiller knows.
        check_state (callable, optional): ``f(model, state_dict)``, run on
            the checkpoint's state dict before it is loaded.
    """
    model_cfg, scope = teacher_model_cfg(teacher)
    if prepare_cfg is not None:
        model_cfg = prepare_cfg(model_cfg)
    model = _build_in_scope(model_cfg, scope)
    checkpoint = teacher.get('checkpoint')
    if checkpoint is None:
        warnings.warn('teacher has no checkpoint: its weights are random. '
                      'Only useful for benchmarks and tests.')
    else:
        load_state_dict_strict(model, checkpoint, check_state=check_state)
    for param in model.parameters():
        param.requires_grad_(False)
    model.eval()
    return model
