# Copyright (c) mmkd contributors. All rights reserved.
"""mmengine checkpoints load with torch.load(weights_only=True), and nothing
else does."""
import argparse
import pickle

import pytest
import torch
import torch.nn as nn
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.runner.checkpoint import CheckpointLoader

import mmkd  # noqa: F401  installs the safe loaders
from mmkd.engine import UnsafeCheckpointError, safe_torch_load


class TinyRegressor(BaseModel):

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 1)

    def forward(self, inputs, targets=None, mode='tensor'):
        out = self.fc(inputs)
        if mode == 'loss':
            return dict(loss=((out.squeeze(1) - targets)**2).mean())
        return out


def make_runner(work_dir, max_epochs, resume=False):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 3, generator=g)
    y = x.sum(1)
    data = [dict(inputs=x[i], targets=y[i]) for i in range(16)]
    torch.manual_seed(0)  # same initial weights in every run
    return Runner(
        model=TinyRegressor(), work_dir=str(work_dir), train_dataloader=dict(
            dataset=data, sampler=dict(type='DefaultSampler', shuffle=True),
            collate_fn=dict(type='default_collate'), batch_size=4),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        randomness=dict(seed=0, deterministic=True), resume=resume,
        default_scope='mmengine')


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('ckpt')
    runner = make_runner(work_dir, max_epochs=2)
    runner.train()
    return work_dir, runner.model.fc.weight.detach().clone()


def test_plain_weights_only_load_fails_without_allowlist(trained):
    """The problem mmkd fixes: torch>=2.6 refuses mmengine's pickles."""
    work_dir, _ = trained
    with pytest.raises(pickle.UnpicklingError):
        torch.load(work_dir / 'epoch_1.pth', weights_only=True)


def test_checkpoint_loads_with_message_hub(trained):
    work_dir, _ = trained
    ckpt = CheckpointLoader.load_checkpoint(str(work_dir / 'epoch_2.pth'))
    hub = ckpt['message_hub']
    buffers = hub['log_scalars']
    assert isinstance(buffers['train/loss'], HistoryBuffer)
    # statistics methods came back as the real methods
    assert buffers['train/loss'].mean() == pytest.approx(
        float(buffers['train/loss'].data[0].mean()))
    assert ckpt['meta']['epoch'] == 2


def test_resume_matches_uninterrupted_run(trained, tmp_path):
    _, full_weight = trained
    first = make_runner(tmp_path, max_epochs=1)
    first.train()
    resumed = make_runner(tmp_path, max_epochs=2, resume=True)
    resumed.train()
    assert resumed.epoch == 2
    torch.testing.assert_close(resumed.model.fc.weight, full_weight, rtol=0,
                               atol=0)


class Foreign:
    """Any class outside the allowlist."""


class GetattrAttack:
    """Pickles as getattr(HistoryBuffer, '__init__'): a getattr the loader
    must refuse (only the statistics methods may be resolved)."""

    def __reduce__(self):
        return getattr, (HistoryBuffer, '__init__')


@pytest.mark.parametrize(
    'payload', [Foreign(), argparse.Namespace(a=1),
                GetattrAttack()],
    ids=['custom-class', 'namespace', 'getattr-other-attr'])
def test_foreign_global_is_refused(tmp_path, payload):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.zeros(1)}, 'extra': payload}, path)
    with pytest.raises(UnsafeCheckpointError, match='(?i)refusing|only'):
        CheckpointLoader.load_checkpoint(str(path))
    with pytest.raises(UnsafeCheckpointError):
        safe_torch_load(str(path))


def test_allowlist_does_not_leak_outside_loading(trained):
    """Outside mmkd's loader, torch's defaults are unchanged."""
    work_dir, _ = trained
    safe_torch_load(str(work_dir / 'epoch_1.pth'))
    with pytest.raises(pickle.UnpicklingError):
        torch.load(work_dir / 'epoch_1.pth', weights_only=True)
