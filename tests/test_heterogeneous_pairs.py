# Copyright (c) mmkd contributors. All rights reserved.
"""Heterogeneous pairs: transformer teachers of other strides and channels
(a tiny Swin RetinaNet, FPN strides 4-64, 96 channels; a tiny Segformer,
logits at 1/4, B x N x C tokens inside) for ResNet students (FPN strides
8-128, 64 channels; logits at 1/8) on the synthetic sets. The toy configs
train through tools/train.py with their alignment and their distillation
loss falls; identical networks line up exactly through the same
alignment; a pair that does not line up stops before the first
iteration, naming the shapes and the fix."""
import glob
import json
import os.path as osp

import pytest
import torch
from dense_utils import (load, save_untrained, shrink_det_cfg, shrink_seg_cfg,
                         train)
from launch_utils import REPO_ROOT, cli, det_options, python, run, seg_options
from mmengine.runner import load_checkpoint

from mmkd.apis import build_runner, prepare_train_cfg
from mmkd.registry import MODELS

SWIN_TEACHER = 'configs/toy/retinanet_swin-t32_shapes-coco.py'
SWIN_PKD = 'configs/pkd/pkd_fpn_retinanet_swin-t32_r18-w32_toy-shapes.py'
MIT_TEACHER = 'configs/toy/segformer_mit-t32_shapes-cityscapes.py'
MIT_CWD = ('configs/cwd/cwd_logits_segformer_mit-t32_pspnet_r18-w16_toy-'
           'shapes.py')
MIT_TOKENS = ('configs/fitnets/fitnets_tokens_segformer_mit-t32_pspnet_r18-'
              'w16_toy-shapes.py')
SEG_SIZE = (64, 128)  # the synthetic Cityscapes-layout images


@pytest.fixture(scope='module')
def swin_ckpt(tmp_path_factory):
    """The tiny Swin RetinaNet teacher, untrained (PKD standardises each
    channel: its FPN features teach all the same)."""
    return save_untrained(SWIN_TEACHER,
                          tmp_path_factory.mktemp('swin') / 'teacher.pth')


@pytest.fixture(scope='module')
def mit_ckpt(tmp_path_factory, cityscapes_shapes_root):
    """The tiny Segformer teacher trained 60 iterations through the real
    Runner: an untrained one's logits are near uniform, so CWD would have
    nothing to teach."""
    work_dir = str(tmp_path_factory.mktemp('mit_teacher'))
    cfg = shrink_seg_cfg(
        load(MIT_TEACHER), cityscapes_shapes_root, work_dir, max_iters=60)
    cfg.model.data_preprocessor.size = SEG_SIZE
    cfg.visualizer.name = 'heterogeneous_mit_teacher'
    train(cfg)
    return osp.join(work_dir, 'iter_60.pth')


def train_py(config: str, work_dir: str, options: dict) -> str:
    """``tools/train.py config`` in a subprocess; its log."""
    return run([
        python(), 'tools/train.py', config, '--work-dir', work_dir,
        '--cfg-options', *cli(options)
    ], cwd=REPO_ROOT)


def logged(work_dir: str, key: str) -> list:
    (scalars, ) = glob.glob(
        osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    with open(scalars) as f:
        rows = [json.loads(line) for line in f]
    return [row[key] for row in rows if key in row]


def assert_falls(values: list) -> None:
    """The mean of the last three logged values is below that of the first
    three (a trend, not one step: the batches are shuffled and flipped)."""
    assert len(values) >= 8, values
    assert sum(values[-3:]) < sum(values[:3]), values


def test_swin_teacher_pkd_trains_through_train_py(swin_ckpt, coco_shapes_root,
                                                  tmp_path):
    """Levels 0-3 of both FPNs paired (strides 8-64 against 4-32), the
    student resized to the teacher and mapped from 64 to 96 channels."""
    work_dir = str(tmp_path / 'run')
    out = train_py(SWIN_PKD, work_dir,
                   det_options(coco_shapes_root, swin_ckpt, max_epochs=5))
    # 64 px images: the teacher's levels 0-3 at strides 4-32
    assert ("distill entry 'neck': teacher feature shapes [(4, 96, 16, 16), "
            '(4, 96, 8, 8), (4, 96, 4, 4), (4, 96, 2, 2)]') in out
    assert_falls(logged(work_dir, 'distill.neck.loss'))


@pytest.mark.parametrize('config, key, teacher_shapes', [
    (MIT_CWD, 'distill.decode_head.conv_seg.loss', '[(2, 19, 16, 32)]'),
    (MIT_TOKENS, 'distill.tokens.loss', '[(2, 8, 256)]'),
], ids=['cwd-logits', 'fitnets-tokens'])
def test_segformer_teacher_trains_through_train_py(config, key, teacher_shapes,
                                                   mit_ckpt,
                                                   cityscapes_shapes_root,
                                                   tmp_path):
    """CWD on the logits (the student's 1/8 resized to the teacher's 1/4);
    FitNets from the teacher's last-stage tokens (a 2 x 4 grid of 64 x 128
    images at stride 32, its aspect from the student's map)."""
    work_dir = str(tmp_path / 'run')
    options = seg_options(cityscapes_shapes_root, mit_ckpt, max_iters=12)
    options['model.student.data_preprocessor.size'] = SEG_SIZE
    out = train_py(config, work_dir, options)
    assert f'teacher feature shapes {teacher_shapes}' in out
    assert_falls(logged(work_dir, key))


def identical_pair(teacher_cfg: str, ckpt: str, entry: dict):
    """A distiller whose student is the teacher's network with the
    teacher's weights, in eval mode."""
    cfg = load(teacher_cfg)
    model = MODELS.build(
        dict(
            type='mmkd.SingleTeacherDistiller', student=cfg.model,
            teacher=dict(
                config=osp.join(REPO_ROOT, teacher_cfg),
                checkpoint=ckpt), distill=dict(pair=entry)))
    load_checkpoint(model.student, ckpt, map_location='cpu', strict=True)
    return model.eval()


def aligned_pairs(model, inputs):
    with torch.no_grad():
        student_out = model.student_recorder.run(model.student, inputs, None,
                                                 mode='tensor')
        teacher_out = model.teacher_outputs(inputs, None)
        (entry, ) = model.distill_entries
        pairs = [
            entry.align(s, t, i) for i, (s, t) in enumerate(
                zip(
                    entry.student_levels(student_out),
                    entry.teacher_levels(teacher_out)))
        ]
        losses = model.distill_losses(student_out, teacher_out)
    return pairs, losses['distill.pair.loss']


def test_identical_networks_tokens_align_to_the_map(mit_ckpt):
    """The Segformer's stage-4 tokens through TokensToMap (and a resize to
    the same size) are the student's own stage-4 map."""
    model = identical_pair(
        MIT_TEACHER, mit_ckpt,
        dict(student='backbone', student_index=3,
             teacher='backbone.layers.3.2',
             teacher_connector=dict(type='mmkd.TokensToMap'),
             connector=dict(type='mmkd.ResizeConnector'),
             loss=dict(type='mmkd.FeatureMSELoss')))
    torch.manual_seed(0)
    pairs, loss = aligned_pairs(model, torch.randn(2, 3, *SEG_SIZE))
    ((s_feat, t_feat), ) = pairs
    assert s_feat.shape == (2, 256, 2, 4)
    assert torch.allclose(s_feat, t_feat, atol=1e-4)
    assert float(loss) < 1e-8


def test_identical_networks_fpn_align_to_identity(swin_ckpt):
    model = identical_pair(
        SWIN_TEACHER, swin_ckpt,
        dict(
            student='neck', teacher='neck',
            connector=dict(type='mmkd.ConnectorChain',
                           connectors=[dict(type='mmkd.ResizeConnector')]),
            loss=dict(type='mmkd.PKDLoss')))
    torch.manual_seed(0)
    pairs, loss = aligned_pairs(model, torch.randn(2, 3, 64, 64))
    assert len(pairs) == 5
    for s_feat, t_feat in pairs:
        assert torch.allclose(s_feat, t_feat, atol=1e-4)
    assert float(loss) < 1e-6


# ------------------------------------------------------------- bad inputs
def build(cfg, work_dir):
    cfg.visualizer.name = f'heterogeneous_{osp.basename(str(work_dir))}'
    return build_runner(prepare_train_cfg(cfg, work_dir=str(work_dir)))


def fails_before_training(cfg, work_dir, error=ValueError) -> str:
    runner = build(cfg, work_dir)
    with pytest.raises(error) as err:
        runner.train()
    assert runner.iter == 0
    return str(err.value)


def replace(cfg_entry, keys: dict) -> None:
    """Set ``keys`` in a distill entry, replacing (not merging) values."""
    for key, value in keys.items():
        cfg_entry.pop(key, None)
        cfg_entry[key] = value


def swin_cfg(swin_ckpt, root, work_dir, **entry):
    cfg = load(SWIN_PKD, **{'model.teacher.checkpoint': swin_ckpt})
    replace(cfg.model.distill.neck, entry)
    return shrink_det_cfg(cfg, root, str(work_dir))


def tokens_cfg(mit_ckpt, root, work_dir, **entry):
    cfg = load(MIT_TOKENS, **{'model.teacher.checkpoint': mit_ckpt})
    replace(cfg.model.distill.tokens, entry)
    cfg = shrink_seg_cfg(cfg, root, str(work_dir))
    cfg.model.student.data_preprocessor.size = SEG_SIZE
    return cfg


def test_swin_pair_without_alignment_names_both_shapes_and_the_fix(
        swin_ckpt, coco_shapes_root, tmp_path):
    cfg = swin_cfg(swin_ckpt, coco_shapes_root, tmp_path)
    cfg.model.distill.neck.pop('connector')
    text = fails_before_training(cfg, tmp_path)
    assert ("distill entry 'neck', level 0: the student feature "
            '(4, 64, 8, 8) (B x C x H x W maps) and the teacher feature '
            '(4, 96, 16, 16) (B x C x H x W maps) differ.') in text
    assert ("connector=dict(type='mmkd.ConnectorChain', connectors=["
            "dict(type='mmkd.ResizeConnector'), dict(type='mmkd."
            "ConvConnector', in_channels=64, out_channels=96)])") in text


def test_level_pairing_past_the_end(swin_ckpt, coco_shapes_root, tmp_path):
    cfg = swin_cfg(swin_ckpt, coco_shapes_root, tmp_path,
                   teacher_index=[2, 3, 4, 5])
    text = fails_before_training(cfg, tmp_path, IndexError)
    assert 'index [5] is past the end' in text
    assert 'of 5 elements' in text and '0..4' in text


def test_level_counts_that_differ_name_the_pairing(swin_ckpt, coco_shapes_root,
                                                   tmp_path):
    cfg = swin_cfg(swin_ckpt, coco_shapes_root, tmp_path, num_levels=None,
                   student_index=[0, 1, 2])
    text = fails_before_training(cfg, tmp_path)
    assert 'the student gives 3 levels and the teacher 4' in text
    assert 'student_index=[0, 1, 2], teacher_index=[0, 1, 2]' in text


def test_tokens_without_token_alignment(mit_ckpt, cityscapes_shapes_root,
                                        tmp_path):
    cfg = tokens_cfg(mit_ckpt, cityscapes_shapes_root, tmp_path,
                     teacher_connector=None)
    text = fails_before_training(cfg, tmp_path)
    assert ('teacher feature (2, 8, 256) (B x N x C tokens)') in text
    assert "teacher_connector=dict(type='mmkd.TokensToMap')" in text


def test_tokens_that_are_not_the_grid_asked_for(mit_ckpt,
                                                cityscapes_shapes_root,
                                                tmp_path):
    cfg = tokens_cfg(
        mit_ckpt, cityscapes_shapes_root, tmp_path,
        teacher_connector=dict(type='mmkd.TokensToMap', aspect_ratio=1))
    text = fails_before_training(cfg, tmp_path)
    assert '8 grid tokens do not form a grid of aspect_ratio=1' in text
    assert 'num_extra_tokens' in text


def test_levels_of_equal_stride_pair_without_resizing(swin_ckpt,
                                                      coco_shapes_root,
                                                      tmp_path):
    """The other pairing: student levels 0-3 (strides 8-64) with teacher
    levels 1-4 (the same strides), channels mapped, nothing resized: the
    pre-flight check passes and the run trains."""
    cfg = swin_cfg(
        swin_ckpt, coco_shapes_root, tmp_path, teacher_index=[1, 2, 3, 4],
        connector=dict(type='mmkd.ConvConnector', in_channels=64,
                       out_channels=96))
    runner = build(cfg, tmp_path)
    runner.train()
    assert runner.iter == 2
    (log, ) = glob.glob(osp.join(str(tmp_path), '*', '*.log'))
    with open(log) as f:
        text = f.read()
    assert ("distill entry 'neck': teacher feature shapes [(4, 96, 8, 8), "
            '(4, 96, 4, 4), (4, 96, 2, 2), (4, 96, 1, 1)]') in text
