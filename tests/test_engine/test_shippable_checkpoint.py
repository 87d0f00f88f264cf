# Copyright (c) mmkd contributors. All rights reserved.
"""Every checkpoint mmkd writes loads anywhere: with torch.load(weights_only=
True) and plain init_detector/init_model in a process that never imported
mmkd (the message hub's HistoryBuffers and numpy values are written as
plain stand-ins), while --resume through mmkd restores exactly what was
saved (message hub, losses of the next iterations, weights)."""
import argparse
import os.path as osp
import pickle
from collections import Counter, OrderedDict

import numpy as np
import pytest
import torch
from dense_utils import load, shrink_det_cfg, train_whole_and_resumed
from launch_utils import (CWD_SEG, DET_STUDENT, DET_TEACHER, PKD_DET,
                          SEG_STUDENT, SEG_TEACHER, cli, det_options,
                          fresh_teacher_ckpt, python, repo_path, run,
                          seg_options)
from mmengine.hooks import Hook
from mmengine.logging import MessageHub
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner
from shippable_utils import assert_loads_anywhere, det_image, seg_image

import mmkd  # noqa: F401
from mmkd.engine.checkpoint_loading import (PLAIN_TAG, from_plain_values,
                                            make_checkpoint_plain,
                                            safe_torch_load, to_plain_values)
from mmkd.engine.hooks import CheckpointIntegrityHook

DET_CLASSES = ('circle', 'square', 'triangle', 'star')


def train_py(config, work_dir, options, cwd):
    """mmkd's tools/train.py in a subprocess; returns its output."""
    cmd = [
        python(),
        repo_path('tools/train.py'),
        repo_path(config), '--work-dir', work_dir, '--cfg-options'
    ] + cli(options)
    return run(cmd, cwd)


# ------------------------------------------------------ the plain values
def real_message_hub_state() -> dict:
    """A real MessageHub's state, as mmengine's Runner saves it: buffers of
    float and int logs, numpy scalars and arrays in the runtime info."""
    hub = MessageHub('shippable-test')
    for i, loss in enumerate([1.5, 0.75, 0.25]):
        hub.update_scalar('train/loss', loss)
        hub.update_scalar('train/lr', 0.01 * (i + 1))
        hub.update_scalar('val/count', i, count=2)
    hub.update_info('eta', np.float64(12.5))  # IterTimerHook's kind
    hub.update_info('iter', 3)
    hub.update_info('hist', np.arange(6, dtype=np.int32).reshape(2, 3))
    hub.update_info('dataset_meta',
                    dict(classes=DET_CLASSES, palette=[(1, 2, 3)] * 4))
    return hub.state_dict()


def test_message_hub_is_plain_and_comes_back_exactly(tmp_path):
    state = real_message_hub_state()
    path = tmp_path / 'hub.pth'
    plain, problems = to_plain_values(state)
    assert problems == []
    torch.save(dict(message_hub=plain), path)
    # torch's own safe loader, no allowlist (mmkd installs none here)
    loaded = torch.load(path, weights_only=True)['message_hub']
    assert loaded['log_scalars']['train/loss'][PLAIN_TAG] == 'HistoryBuffer'
    back = from_plain_values(loaded)
    assert back.keys() == state.keys()
    for key, buffer in state['log_scalars'].items():
        restored = back['log_scalars'][key]
        assert isinstance(restored, HistoryBuffer)
        assert restored.max_length == buffer.max_length
        for got, want in zip(restored.data, buffer.data):
            assert got.dtype == want.dtype and np.array_equal(got, want)
        assert restored.mean() == buffer.mean()  # statistics work
    info = back['runtime_info']
    assert type(info['eta']) is np.float64 and info['eta'] == 12.5
    assert info['hist'].dtype == np.int32
    assert np.array_equal(info['hist'], state['runtime_info']['hist'])
    assert info['dataset_meta'] == state['runtime_info']['dataset_meta']
    assert back['resumed_keys'] == state['resumed_keys']
    # mmengine reads it back into a message hub
    hub = MessageHub('shippable-test-back')
    hub.load_state_dict(back)
    assert hub.get_scalar('train/loss').current() == 0.25


def test_containers_keep_type_identity_and_metadata():
    weights = OrderedDict(w=torch.ones(2))
    info = OrderedDict(x=np.int64(3))
    info._metadata = {'': dict(version=1)}  # as a state dict's
    ckpt = dict(state_dict=weights, info=info,
                sched=[dict(milestones=Counter({3: 1}), last=(1, 2.0))])
    assert make_checkpoint_plain(ckpt) == []
    assert ckpt['state_dict'] is weights  # nothing to change: kept as is
    assert type(ckpt['sched'][0]['milestones']) is Counter
    assert type(ckpt['info']) is OrderedDict
    assert ckpt['info']._metadata == {'': dict(version=1)}
    back = from_plain_values(ckpt)
    assert type(back['info']['x']) is np.int64 and back['info']['x'] == 3
    assert back['info']._metadata == {'': dict(version=1)}
    assert back['sched'] is ckpt['sched']


def test_a_value_with_no_plain_form_is_named_and_kept():
    odd = argparse.Namespace(a=1)
    ckpt = dict(meta=dict(ok=1, odd=odd), hub=[np.array([object()])])
    problems = make_checkpoint_plain(ckpt)
    assert problems == [
        "checkpoint['meta']['odd'] (argparse.Namespace)",
        "checkpoint['hub'][0] (numpy.ndarray)"
    ]
    assert ckpt['meta']['odd'] is odd


class AddsAnOddValue(Hook):

    def before_save_checkpoint(self, runner, checkpoint):
        checkpoint['odd'] = argparse.Namespace(a=1)


class TinyRegressor(BaseModel):

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(2, 1)

    def forward(self, inputs, targets=None, mode='tensor'):
        return dict(loss=((self.fc(inputs) - targets)**2).mean())


def test_the_hook_warns_naming_a_value_with_no_plain_form(tmp_path):
    data = [dict(inputs=torch.ones(2), targets=torch.zeros(1))] * 4
    runner = Runner(
        model=TinyRegressor(), work_dir=str(tmp_path), train_dataloader=dict(
            dataset=data, sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=2, collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=True, max_epochs=1),
        custom_hooks=[CheckpointIntegrityHook(),
                      AddsAnOddValue()], default_scope='mmengine')
    runner.train()
    with open(osp.join(runner.log_dir, f'{runner.timestamp}.log')) as f:
        log = f.read()
    assert ('values that torch.load(weights_only=True) refuses and that '
            "have no plain form: checkpoint['odd'] (argparse.Namespace)"
            in log)
    # the rest is plain: only that value stops torch's safe loader
    with pytest.raises(pickle.UnpicklingError, match='Namespace'):
        torch.load(tmp_path / 'epoch_1.pth', weights_only=True)


# --------------------------------------------- trained through train.py
@pytest.fixture(scope='module')
def det_run(tmp_path_factory, coco_shapes_root):
    """The toy PKD pair, one epoch (2 iterations) through mmkd's
    tools/train.py."""
    root = tmp_path_factory.mktemp('shippable_det')
    teacher = fresh_teacher_ckpt(DET_TEACHER, str(root / 'teacher.pth'))
    work_dir = str(root / 'work')
    train_py(PKD_DET, work_dir, det_options(coco_shapes_root, teacher),
             str(root))
    return osp.join(work_dir, 'epoch_1.pth')


@pytest.fixture(scope='module')
def seg_run(tmp_path_factory, cityscapes_shapes_root):
    """The toy CWD PSPNet pair, 2 iterations through mmkd's
    tools/train.py."""
    root = tmp_path_factory.mktemp('shippable_seg')
    teacher = fresh_teacher_ckpt(SEG_TEACHER, str(root / 'teacher.pth'),
                                 seg=True)
    work_dir = str(root / 'work')
    train_py(CWD_SEG, work_dir, seg_options(cityscapes_shapes_root, teacher),
             str(root))
    return osp.join(work_dir, 'iter_2.pth')


# what a run's checkpoint carries besides the student, for --resume
RESUME_KEYS = {
    'message_hub', 'optimizer', 'param_schedulers', 'distill_state_dict'
}


def test_det_final_checkpoint_loads_without_mmkd(det_run, coco_shapes_root,
                                                 tmp_path):
    got = assert_loads_anywhere(det_run, repo_path(DET_STUDENT),
                                det_image(coco_shapes_root), 'det',
                                str(tmp_path), DET_CLASSES)
    assert RESUME_KEYS | {'meta', 'state_dict', 'mmkd_random_state'} <= set(
        got['keys'])


def test_seg_final_checkpoint_loads_without_mmkd(seg_run,
                                                 cityscapes_shapes_root,
                                                 tmp_path):
    from mmseg.datasets import CityscapesDataset
    got = assert_loads_anywhere(seg_run, repo_path(SEG_STUDENT),
                                seg_image(cityscapes_shapes_root), 'seg',
                                str(tmp_path),
                                CityscapesDataset.METAINFO['classes'])
    assert RESUME_KEYS | {'meta', 'state_dict'} <= set(got['keys'])


def test_mmkd_reads_back_what_mmengine_saved(det_run):
    ckpt = safe_torch_load(det_run)
    hub = ckpt['message_hub']
    assert isinstance(hub['log_scalars']['train/loss'], HistoryBuffer)
    assert len(hub['log_scalars']['train/loss'].data[0]) == 2
    assert type(hub['runtime_info']['eta']) is np.float64
    assert ckpt['meta']['dataset_meta']['classes'] == DET_CLASSES


# ------------------------------------------------------------- resume
def test_resume_gives_the_same_next_iteration_losses(retina_teacher_ckpt,
                                                     coco_shapes_root,
                                                     tmp_path):
    """Stop the toy PKD run after epoch 1 and --resume: the loss history
    (epoch 1's from the checkpoint's message hub, epoch 2's computed after
    the resume) and the final weights are exactly those of an uninterrupted
    2-epoch run."""
    cfg = load(PKD_DET)
    cfg.model.teacher.checkpoint = retina_teacher_ckpt
    base = shrink_det_cfg(cfg, coco_shapes_root, str(tmp_path / 'full'),
                          max_epochs=2)
    full, runner = train_whole_and_resumed(base, str(tmp_path / 'part'))

    losses = [
        k for k in full.message_hub.log_scalars
        if k.startswith('train/') and 'loss' in k
    ]
    assert 'train/distill.neck.loss' in losses
    for key in losses:
        want = full.message_hub.get_scalar(key).data[0]
        got = runner.message_hub.get_scalar(key).data[0]
        assert len(want) == 4  # 2 epochs x 2 iterations
        np.testing.assert_array_equal(got, want, err_msg=key)
    state, want = runner.model.state_dict(), full.model.state_dict()
    assert state.keys() == want.keys()
    for key in want:
        torch.testing.assert_close(state[key], want[key], rtol=0, atol=0,
                                   msg=key)
