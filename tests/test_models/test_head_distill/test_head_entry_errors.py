# Copyright (c) mmkd contributors. All rights reserved.
"""A head entry that cannot work stops when the distiller is built (before
the Runner's first iteration), naming what is wrong and the fix."""
import copy

import pytest
import torch
from dense_utils import load
from mmengine.registry import DefaultScope

from mmkd.registry import MODELS

RETINA = 'configs/crosskd/crosskd_head_retinanet_r18-w64_r18-w32_toy-shapes.py'
GFL = 'configs/crosskd/crosskd_head_gfl_r18-w64_r18-w32_toy-shapes.py'
RETINA_T = 'configs/toy/retinanet_r18-w64_shapes-coco.py'
GFL_T = 'configs/toy/gfl_r18-w64_shapes-coco.py'
FRCNN_S = 'configs/toy/faster-rcnn_r18-w32_shapes-coco.py'


def _build(cfg):
    with DefaultScope.overwrite_default_scope('mmdet'):
        return MODELS.build(copy.deepcopy(cfg))


def _distiller_cfg(tmp_path, config=RETINA, teacher_model=None, **loss):
    """``config``'s model with a fresh teacher (its own model config, or
    ``teacher_model``) saved as its checkpoint, and ``loss`` options set on
    the CrossKD entry."""
    cfg = load(config).model
    if teacher_model is None:
        teacher_model = load(cfg.teacher.config).model
    path = str(tmp_path / 'teacher.pth')
    torch.save({'state_dict': _build(teacher_model).state_dict()}, path)
    cfg.teacher = dict(model=teacher_model, checkpoint=path,
                       default_scope='mmdet')
    for key, value in loss.items():  # replaced, not merged
        cfg.distill.crosskd.loss[key] = value
    return cfg


def _raises(cfg, *fragments):
    with pytest.raises(ValueError) as err:
        _build(cfg)
    for text in fragments:
        assert text in str(err.value), str(err.value)


def test_a_head_that_cannot_be_split(tmp_path):
    """Faster R-CNN's RPN head has no stacked cls/reg convs."""
    cfg = _distiller_cfg(tmp_path, teacher_model=load(FRCNN_S).model)
    cfg.student = load(FRCNN_S).model
    cfg.distill.crosskd.student = cfg.distill.crosskd.teacher = 'rpn_head'
    cfg.distill.crosskd.pop('connector')
    _raises(cfg, "distill entry 'crosskd' (student)",
            'RPNHead is not a head mmkd can split',
            "['ATSSHead', 'FCOSHead', 'GFLHead', 'RetinaHead']",
            'register a split')


@pytest.mark.parametrize('head_idx', [0, 3])
def test_a_split_position_out_of_range(tmp_path, head_idx):
    """The toy student's head has 2 stacked convs (the teacher's 3)."""
    _raises(
        _distiller_cfg(tmp_path, head_idx=head_idx),
        f'head_idx={head_idx} is out of range',
        'RetinaHead has 2 stacked convs', '(head_idx=1..2')


def test_different_class_counts(tmp_path):
    teacher = load(RETINA_T).model
    teacher.bbox_head.num_classes = 80
    _raises(
        _distiller_cfg(tmp_path, teacher_model=teacher),
        'the student RetinaHead predicts 4 class scores per prior and the '
        'teacher RetinaHead 80', "give the student the teacher's num_classes")


def test_different_anchor_layouts(tmp_path):
    teacher = load(RETINA_T).model
    teacher.bbox_head.anchor_generator.ratios = [1.0]
    _raises(
        _distiller_cfg(tmp_path, teacher_model=teacher),
        'lay their priors out differently', 'priors_per_position',
        'anchor_generator')


def test_different_head_types(tmp_path):
    _raises(
        _distiller_cfg(tmp_path, teacher_model=load(GFL_T).model),
        'lay their priors out differently', "'head'")


def test_heads_of_different_widths_need_a_connector(tmp_path):
    cfg = _distiller_cfg(tmp_path)
    cfg.distill.crosskd.pop('connector')
    _raises(
        cfg, 'the student head is 64 channels wide and the teacher',
        "connector=dict(type='mmkd.ConvConnector', in_channels=64, "
        'out_channels=128)')


def test_a_box_loss_on_gfls_distributions(tmp_path):
    _raises(
        _distiller_cfg(tmp_path, GFL, loss_reg=dict(type='mmdet.GIoULoss')),
        'GFLHead predicts box distribution',
        "loss_reg=dict(type='mmkd.BoxDistributionKLLoss')")


def test_a_centerness_loss_on_a_head_without_one(tmp_path):
    _raises(
        _distiller_cfg(
            tmp_path, loss_ctr=dict(type='mmdet.CrossEntropyLoss',
                                    use_sigmoid=True)),
        'RetinaHead has no centerness branch; remove loss_ctr')


def test_level_keys_do_not_apply_to_a_head_entry(tmp_path):
    cfg = _distiller_cfg(tmp_path)
    cfg.distill.crosskd.num_levels = 5
    _raises(cfg, "['num_levels'] do not apply to a head loss")
