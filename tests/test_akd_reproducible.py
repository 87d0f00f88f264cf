# Copyright (c) mmkd contributors. All rights reserved.
"""Two runs of the same AKD config give identical weights, avatar streams
and metrics (same code, same number of torch threads): the avatars come
from the run's seed, the pre-flight check (DistillCheckHook) leaves the
streams as it found them, and nothing a previous run left in the process
leaks in. A finished step is reused only with the same config and code."""
import os.path as osp

import pytest
import torch

from demo import pipeline
from demo.pipeline import (DEMO_PRESETS, configure, data_description,
                           make_data, train_step)
from mmkd.engine.checkpoint_loading import safe_torch_load
from mmkd.engine.hooks import DISTILL_STATE_KEY

PRESET = DEMO_PRESETS['det']
METRIC = PRESET['metrics'][0][1]
SIZE = dict(PRESET['quick'], student_epochs=2)


def _state(checkpoint: str) -> dict:
    ckpt = safe_torch_load(checkpoint)
    return dict(student=ckpt['state_dict'],
                distill=ckpt.get(DISTILL_STATE_KEY, {}))


def _assert_same(a, b, where=''):
    if isinstance(a, dict):
        assert set(a) == set(b), where
        for k in a:
            _assert_same(a[k], b[k], f'{where}.{k}')
    elif torch.is_tensor(a):
        assert torch.equal(a, b), where
    else:
        assert a == b, where


@pytest.mark.e2e
def test_two_akd_runs_are_identical(tmp_path, monkeypatch, capsys):
    root = osp.join(str(tmp_path / 'data'), '')
    make_data('det', root, SIZE, 0)
    data = data_description('det', SIZE, 0)

    def step(name, path, work_dir, teacher_ckpt=None):
        cfg = configure('det', path, root, str(tmp_path / work_dir), SIZE, 0,
                        teacher=teacher_ckpt is None and name == 'teacher',
                        teacher_ckpt=teacher_ckpt)
        return train_step(name, cfg, [], METRIC, data)

    teacher = step('teacher', PRESET['teacher'], 'teacher')
    ckpt = teacher['checkpoint']
    akd_path = PRESET['runs'][2][1]
    assert 'akd' in akd_path
    first = step('AKD', akd_path, 'akd_a', ckpt)
    # another distillation run in the same process in between
    step('PKD', PRESET['runs'][1][1], 'pkd', ckpt)
    second = step('AKD', akd_path, 'akd_b', ckpt)
    assert not first['reused'] and not second['reused']
    assert first['metrics'] == second['metrics']
    state_a = _state(first['checkpoint'])
    state_b = _state(second['checkpoint'])
    # the avatar generators were used and end in the same state
    gens = [
        v['generator_state'] for k, v in state_a['distill'].items()
        if k.endswith('_extra_state')
    ]
    assert len(gens) == 5 and all(g is not None for g in gens)
    _assert_same(state_a, state_b)

    # the same step again is reused; with other code it is trained again,
    # to the same numbers (the code did not really change)
    assert step('AKD', akd_path, 'akd_a', ckpt)['reused']
    monkeypatch.setattr(pipeline, 'code_fingerprint', lambda: 'other code')
    again = step('AKD', akd_path, 'akd_a', ckpt)
    assert not again['reused']
    assert 'made with another config, teacher or code' in \
        capsys.readouterr().out
    assert again['metrics'] == first['metrics']
    _assert_same(_state(again['checkpoint']), state_a)
