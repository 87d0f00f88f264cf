# Copyright (c) mmkd contributors. All rights reserved.
"""Publish a distilled student: a checkpoint that loads anywhere.

    python tools/model_converters/publish_student.py IN OUT [--save-config]
        [--config CONFIG]

IN is any checkpoint of a run: one mmkd writes now, one it wrote before
its checkpoints held plain values (a pickled message hub, which
``torch.load(weights_only=True)`` refuses without mmkd), a plain mmengine
checkpoint, or a distiller's full state (``student.*`` keys). OUT gets
only the student: ``state_dict`` (exactly the keys of the student built
from its config, checked) and ``meta`` (``dataset_meta`` and the rest,
``cfg`` set to the student's config), no optimizer, message hub or
distillation parts, and it loads with ``torch.load(weights_only=True)``
(checked after writing), so with plain ``init_detector``/``init_model``.
As mmdet's ``publish_model.py``, the file is named OUT's stem, ``-``, the
first 8 hex digits of its sha256 and ``.pth``.

The student's config comes from the run's config saved in IN
(``meta['cfg']``) or from ``--config`` (the run's config or the student's):
the distiller replaced by its ``student``, mmkd's teacher, runner, hooks
and import removed (``mmkd.apis.student_cfg``). ``--save-config`` writes it
beside the checkpoint as OUT's stem + ``.py``.
"""
import argparse
import hashlib
import io
import os.path as osp
import sys
from typing import Optional, Tuple

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

import mmkd  # noqa: F401  (registries, safe checkpoint loading)
from mmkd.apis.student_cfg import student_config
from mmkd.engine.checkpoint_files import (CorruptCheckpointError, atomic_write,
                                          checkpoint_problem)
from mmkd.engine.checkpoint_loading import safe_torch_load, to_plain_values
from mmkd.models.distillers.base import STUDENT_PREFIX
from mmkd.registry import MODELS
from mmkd.utils import load_config


def load_input(in_file: str) -> dict:
    """IN as a dict with ``state_dict`` (and ``meta`` when it has one)."""
    if not osp.isfile(in_file):
        raise FileNotFoundError(f'IN checkpoint {in_file!r} does not exist')
    problem = checkpoint_problem(in_file)
    if problem is not None:
        raise CorruptCheckpointError(f'cannot publish {in_file}: {problem}')
    ckpt = safe_torch_load(in_file)
    if isinstance(ckpt, dict) and isinstance(ckpt.get('state_dict'), dict):
        return ckpt
    if isinstance(ckpt, dict) and ckpt and all(
            isinstance(v, torch.Tensor) for v in ckpt.values()):
        return dict(state_dict=ckpt)  # a bare state dict
    keys = sorted(ckpt) if isinstance(ckpt, dict) else type(ckpt).__name__
    raise ValueError(f'{in_file} holds no state_dict of weights (it holds '
                     f'{keys}); publish a checkpoint written by a training '
                     'run.')


def run_config(ckpt: dict, in_file: str, config: Optional[str]) -> Config:
    """``--config`` if given, else the run's config saved in IN."""
    if config is not None:
        return load_config(config)
    text = ckpt.get('meta', {}).get('cfg')
    if not isinstance(text, str):
        raise ValueError(
            f'{in_file} does not hold the config of its run (meta["cfg"]); '
            "pass the run's or the student's config with --config CONFIG.")
    return Config.fromstring(text, file_format='.py')


def student_weights(ckpt: dict, cfg: Config, in_file: str) -> dict:
    """The checkpoint's weights under exactly the keys of the student built
    from ``cfg`` (``student.``-prefixed keys of a full distiller state
    renamed), shapes checked; every other entry is left out."""
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        want = MODELS.build(cfg.model).state_dict()
    state = ckpt['state_dict']
    if not all(k in state for k in want) and any(
            k.startswith(STUDENT_PREFIX) for k in state):
        state = {
            k[len(STUDENT_PREFIX):]: v
            for k, v in state.items() if k.startswith(STUDENT_PREFIX)
        }
    missing = [k for k in want if k not in state]
    if missing:
        raise KeyError(
            f'{in_file} lacks {len(missing)} weights of the student its '
            f'config builds (cfg.model type {cfg.model.get("type")!r}), e.g. '
            f'{missing[:5]}: pass the config it was trained with '
            '(--config).')
    wrong = [(k, tuple(state[k].shape), tuple(v.shape))
             for k, v in want.items() if hasattr(state[k], 'shape')
             and tuple(state[k].shape) != tuple(v.shape)]
    if wrong:
        raise ValueError(
            f'{in_file}: {len(wrong)} weights have another shape than in the '
            'student its config builds, e.g. (key, checkpoint, config) '
            f'{wrong[:3]}: pass the config it was trained with (--config).')
    return {k: state[k] for k in want}


def plain_meta(meta: dict, cfg: Config) -> dict:
    """``meta`` with ``cfg`` the student's config text, in plain values;
    an entry with no plain form is left out, with a message."""
    out = {}
    for key, value in dict(meta, cfg=cfg.pretty_text).items():
        value, problems = to_plain_values(value, f'meta[{key!r}]')
        if problems:
            print(f'left out {"; ".join(problems)}: '
                  'torch.load(weights_only=True) refuses it')
            continue
        out[key] = value
    return out


def publish_student(in_file: str, out_file: str, config: Optional[str] = None,
                    save_config: bool = False) -> Tuple[str, Optional[str]]:
    """Write IN's student as ``<OUT stem>-<sha256[:8]>.pth`` (and its
    config as ``<OUT stem>.py`` with ``save_config``); returns both
    paths."""
    ckpt = load_input(in_file)
    cfg, needs_mmkd = student_config(run_config(ckpt, in_file, config))
    state, problems = to_plain_values(
        student_weights(ckpt, cfg, in_file), 'state_dict')
    if problems:
        raise ValueError(f'the student weights hold values torch.load('
                         f'weights_only=True) refuses: {problems}')
    buffer = io.BytesIO()
    torch.save(
        dict(meta=plain_meta(ckpt.get('meta', {}), cfg), state_dict=state),
        buffer)
    data = buffer.getvalue()
    stem = out_file[:-len('.pth')] if out_file.endswith('.pth') else out_file
    final = f'{stem}-{hashlib.sha256(data).hexdigest()[:8]}.pth'
    atomic_write(final, data)
    torch.load(final, map_location='cpu', weights_only=True)  # the promise
    cfg_file = None
    if save_config:
        cfg_file = stem + '.py'
        cfg.dump(cfg_file)
        if needs_mmkd:
            print(f'{cfg_file} still needs mmkd (custom_imports) for: '
                  f'{", ".join(needs_mmkd)}')
    return final, cfg_file


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Write the student of a checkpoint as a student-only '
        'file that torch.load(weights_only=True), init_detector and '
        'init_model load without mmkd.')
    parser.add_argument('in_file', help='a checkpoint of a training run')
    parser.add_argument(
        'out_file', help='the published file: OUT stem + "-" + 8 hex digits '
        'of its sha256 + ".pth"')
    parser.add_argument(
        '--config', help="the run's or the student's config (default: the "
        "run's config saved in the checkpoint)")
    parser.add_argument(
        '--save-config', action='store_true',
        help="write the student's config beside it, as OUT stem + '.py'")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    final, cfg_file = publish_student(args.in_file, args.out_file,
                                      config=args.config,
                                      save_config=args.save_config)
    print(f'The published student is saved at {final}.')
    if cfg_file:
        print(f'Its config is saved at {cfg_file}.')


if __name__ == '__main__':
    main()
