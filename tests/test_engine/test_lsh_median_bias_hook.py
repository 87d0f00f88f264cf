# Copyright (c) mmkd contributors. All rights reserved.
"""LSHMedianBiasHook in a real mmengine Runner: a tiny MNIST distillation
(SingleTeacherDistiller of two mmkd.ImageClassifier), then a resume."""
import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.model import BaseModel
from mmengine.runner import Runner
from real_data_utils import real_data

from mmkd.engine.hooks import LSHMedianBiasHook
from mmkd.models.losses import LSHLoss
from mmkd.registry import MODELS
from mmkd.structures import ClsDataSample
from mmkd.utils import data_root

MNIST_ROOT = Path(data_root('mnist'))  # $MMKD_DATA_ROOT/mnist
BATCH = 16
MAX_BATCHES = 4
PREPROCESSOR = dict(type='ImgDataPreprocessor', mean=[33.3], std=[78.6])


def _mnist(start, num):
    """``num`` MNIST test images from ``start`` as packed samples."""
    with gzip.open(MNIST_ROOT / 't10k-images-idx3-ubyte.gz', 'rb') as f:
        imgs = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(MNIST_ROOT / 't10k-labels-idx1-ubyte.gz', 'rb') as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    return [
        dict(
            inputs=torch.from_numpy(imgs[i].copy())[None],
            data_samples=ClsDataSample().set_gt_label(int(labels[i])))
        for i in range(start, start + num)
    ]


def _classifier(channels, hidden):
    return dict(
        type='mmkd.ImageClassifier',
        backbone=dict(type='mmkd.MnistConvNet', channels=channels,
                      hidden=hidden),
        head=dict(type='mmkd.LinearClsHead', num_classes=10,
                  in_channels=hidden), data_preprocessor=PREPROCESSOR)


def _runner(work_dir, teacher_ckpt, data, max_iters, name, resume=False):
    distiller = dict(
        type='mmkd.SingleTeacherDistiller', student=_classifier(
            (2, 4), 8), teacher=dict(
                model=_classifier((4, 8), 16), checkpoint=str(teacher_ckpt)),
        distill=[
            dict(
                name='feat', student='head.pre_logits',
                teacher='head.pre_logits', teacher_logits='head.fc',
                connector=dict(type='mmkd.LinearConnector', in_features=8,
                               out_features=16),
                loss=dict(type='mmkd.LSHLoss', in_channels=16, num_bits=24,
                          std_from='head.fc.weight', teacher_correct_only=True,
                          loss_weight=6.0)),
            dict(
                name='map', student='backbone.layer2',
                teacher='backbone.layer2',
                connector=dict(type='mmkd.ConvConnector', in_channels=4,
                               out_channels=8),
                loss=dict(type='mmkd.LSHLoss', in_channels=8, num_bits=16,
                          std=0.1, mode='lsh')),
        ])
    return Runner(
        model=distiller,
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=data, sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='pseudo_collate'), batch_size=BATCH,
            num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=2,
                            by_epoch=False)),
        custom_hooks=[
            # 49 positions x 16 images per batch <= 1024: maps use every
            # position, so the medians can be checked exactly
            dict(type='mmkd.LSHMedianBiasHook', max_batches=MAX_BATCHES,
                 max_vectors_per_batch=1024),
            dict(type='mmkd.DistillCheckpointHook'),
            dict(type='mmkd.DistillCheckHook'),
        ],
        resume=resume,
        randomness=dict(seed=0),
        experiment_name=name,
        default_scope='mmengine')


def _state(loss):
    return {k: v.clone() for k, v in loss.state_dict().items()}


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    real_data('mnist')
    work_dir = tmp_path_factory.mktemp('lsh_hook')
    torch.manual_seed(0)
    teacher = MODELS.build(_classifier((4, 8), 16))
    teacher_ckpt = work_dir / 'teacher.pth'
    torch.save(dict(state_dict=teacher.state_dict()), teacher_ckpt)
    data = _mnist(0, 96)
    first = _runner(work_dir, teacher_ckpt, data, 2, 'lsh_hook_first')
    first.train()
    model = first.model
    states = [_state(e.losses[0]) for e in model.distill_entries]
    other = _mnist(96, 96)
    second = _runner(work_dir, teacher_ckpt, other, 3, 'lsh_hook_resume',
                     resume=True)
    second.train()
    return dict(model=model, states=states, data=data, other=other,
                second=second, work_dir=work_dir)


def _teacher_projections(model, loss, data, path):
    """``W ft`` of the teacher features at ``path`` over the batches the
    hook used, batch by batch as the hook computes them."""
    rows = []
    with torch.no_grad():
        for i in range(MAX_BATCHES):
            batch = pseudo_collate(data[i * BATCH:(i + 1) * BATCH])
            inputs = model.data_preprocessor(batch, True)['inputs']
            outs = model.teacher_recorder.run(model.teacher, inputs)
            rows.append(loss.projections(outs[path][0]))
    return torch.cat(rows)


def test_std_from_resolved_and_flags_set(runs):
    model = runs['model']
    feat, fmap = (e.losses[0] for e in model.distill_entries)
    assert bool(feat.initialized) and bool(fmap.initialized)
    std = model.teacher.head.fc.weight.double().std().item()
    ref = LSHLoss(in_channels=16, num_bits=24, std=std, bias='zero')
    assert torch.allclose(feat.proj_weight, ref.proj_weight, rtol=1e-6)


def test_vector_bits_balanced_over_data_used(runs):
    """Balance criterion: over the 64 images used, the fraction of ones of
    each bit lies in [0.3, 0.7] and its mean distance to 0.5 is <= 0.1 (the
    median makes it exactly 0.5 when the projections are distinct)."""
    model = runs['model']
    feat = model.distill_entries[0].losses[0]
    proj = _teacher_projections(model, feat, runs['data'], 'head.pre_logits')
    assert proj.shape == (MAX_BATCHES * BATCH, 24)
    ones = (proj + feat.proj_bias > 0).float().mean(0)
    assert ones.min() >= 0.3 and ones.max() <= 0.7, ones
    assert (ones - 0.5).abs().mean() <= 0.1, ones
    # without the median the hash is far from balanced on these features
    zero_bias = (proj > 0).float().mean(0)
    assert (zero_bias - 0.5).abs().mean() > (ones - 0.5).abs().mean()


def test_map_bias_is_median_over_all_positions(runs):
    """Every C-vector of the 7 x 7 maps is one feature: -b is a median of
    W ft over the 64 x 49 positions (MNIST's constant background makes many
    of them equal, so ties keep these bits from an exact 0.5 split)."""
    model = runs['model']
    fmap = model.distill_entries[1].losses[0]
    proj = _teacher_projections(model, fmap, runs['data'], 'backbone.layer2')
    assert proj.shape == (MAX_BATCHES * BATCH * 49, 16)
    median = -fmap.proj_bias
    assert ((proj > median).float().mean(0) <= 0.5).all()
    assert ((proj >= median).float().mean(0) >= 0.5).all()
    assert not torch.equal(fmap.proj_bias, torch.zeros(16))


def test_checkpoint_holds_projection(runs):
    ckpt = torch.load(runs['work_dir'] / 'iter_2.pth', map_location='cpu',
                      weights_only=False)
    distill = ckpt['distill_state_dict']
    key = 'distill_entries.0.losses.0.'
    assert torch.equal(distill[key + 'proj_bias'],
                       runs['states'][0]['proj_bias'])
    assert bool(distill[key + 'initialized'])
    assert not any('proj_' in k for k in ckpt['state_dict'])


def test_resume_does_not_run_again(runs):
    second = runs['second']
    assert second.iter == 3
    model = second.model
    for entry, saved in zip(model.distill_entries, runs['states']):
        state = entry.losses[0].state_dict()
        for key in ('proj_weight', 'proj_bias'):
            assert torch.equal(state[key], saved[key]), (entry.name, key)
    # had it run again, the new data would have given other medians
    feat = model.distill_entries[0].losses[0]
    proj = _teacher_projections(model, feat, runs['other'], 'head.pre_logits')
    assert not torch.allclose(-proj.median(0).values, feat.proj_bias)


@pytest.mark.real_data('mnist')
def test_progress_bar_shown(tmp_path, capsys):
    torch.manual_seed(0)
    teacher = MODELS.build(_classifier((4, 8), 16))
    ckpt = tmp_path / 'teacher.pth'
    torch.save(dict(state_dict=teacher.state_dict()), ckpt)
    runner = _runner(tmp_path, ckpt, _mnist(0, 80), 1, 'lsh_hook_bar')
    runner.train()
    out = capsys.readouterr().out
    assert f'{MAX_BATCHES}/{MAX_BATCHES}' in out


def test_project_subsamples_positions():
    hook = LSHMedianBiasHook(max_vectors_per_batch=50)
    loss = LSHLoss(in_channels=8, num_bits=6, std=1.0)
    feat = torch.randn(2, 8, 10, 10)
    rows = hook._project(loss, feat, index=3)
    assert rows.shape == (50, 6)
    every = loss.projections(feat)
    # each kept row is the projection of one position, none repeated
    match = (rows[:, None, :] - every[None]).abs().amax(-1) < 1e-6
    assert (match.sum(1) == 1).all()
    assert len(set(match.float().argmax(1).tolist())) == 50
    assert torch.equal(rows, hook._project(loss, feat, index=3))
    small = torch.randn(4, 8)
    assert torch.equal(hook._project(loss, small, 0), loss.projections(small))


@pytest.mark.parametrize('kwargs', [
    dict(max_batches=0),
    dict(max_batches=1.5),
    dict(max_vectors_per_batch=0)
])
def test_hook_arguments(kwargs):
    with pytest.raises(ValueError, match='must be an int >= 1'):
        LSHMedianBiasHook(**kwargs)


class _Plain(BaseModel):

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.fc(torch.stack(inputs))
        return dict(loss=out.mean()) if mode == 'loss' else out


def test_hook_needs_a_distiller(tmp_path):
    runner = Runner(
        model=_Plain(), work_dir=str(tmp_path), train_dataloader=dict(
            dataset=[dict(inputs=torch.zeros(2))] * 4,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='pseudo_collate'), batch_size=2),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=1),
        custom_hooks=[dict(type='mmkd.LSHMedianBiasHook')],
        experiment_name='lsh_hook_plain', default_scope='mmengine')
    with pytest.raises(TypeError, match='needs a distiller model'):
        runner.train()
