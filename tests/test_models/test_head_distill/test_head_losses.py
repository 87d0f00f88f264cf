# Copyright (c) mmkd contributors. All rights reserved.
"""The head losses' parts against independent computations, and LD as an
mmkd config against mmdet's own LD head."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import DefaultScope

from mmkd.models.losses import (BoxDistributionKLLoss, KDQualityFocalLoss,
                                PredictionMimicLoss)
from mmkd.registry import MODELS


def test_kd_quality_focal_loss_by_hand():
    torch.manual_seed(0)
    s, t = torch.randn(7, 3), torch.randn(7, 3) * 2
    w = torch.rand(7)
    got = KDQualityFocalLoss(beta=1.5, loss_weight=0.7)(s, t, w, 3.0)
    want = 0.
    for i in range(7):
        for c in range(3):
            p = 1 / (1 + torch.exp(-s[i, c]))
            q = 1 / (1 + torch.exp(-t[i, c]))
            bce = -(q * torch.log(p) + (1 - q) * torch.log(1 - p))
            want += w[i] * bce * abs(p - q)**1.5
    torch.testing.assert_close(got, 0.7 * want / 3.0)
    # its minimum: the student's scores equal the teacher's
    assert float(KDQualityFocalLoss()(t, t, w, 1.0)) == 0.0


@pytest.mark.parametrize('reduction', ['sum', 'mean'])
def test_box_distribution_kl_against_torch_kl_div(reduction):
    torch.manual_seed(0)
    s, t = torch.randn(8, 17), torch.randn(8, 17)
    w = torch.rand(8)
    got = BoxDistributionKLLoss(T=3.0, class_reduction=reduction,
                                loss_weight=0.5)(s, t, w, 4.0)
    kl = F.kl_div(
        F.log_softmax(s / 3, 1), F.softmax(t / 3, 1), reduction='none').sum(1)
    if reduction == 'mean':
        kl = kl / 17
    torch.testing.assert_close(got, 0.5 * 9 * (w * kl).sum() / 4.0)


def _gfl_head(ld: bool):
    cfg = dict(
        type='LDHead' if ld else 'GFLHead', num_classes=3, in_channels=8,
        loss_bbox=dict(type='GIoULoss',
                       loss_weight=2.0), loss_cls=dict(type='QualityFocalLoss',
                                                       use_sigmoid=True,
                                                       beta=2.0),
        loss_dfl=dict(type='DistributionFocalLoss',
                      loss_weight=0.25), feat_channels=16, stacked_convs=2,
        reg_max=8, norm_cfg=dict(type='GN', num_groups=4, requires_grad=True),
        anchor_generator=dict(type='AnchorGenerator', ratios=[1.0],
                              octave_base_scale=4, scales_per_octave=1,
                              strides=[8, 16, 32]), train_cfg=dict(
                                  assigner=dict(type='ATSSAssigner',
                                                topk=9), allowed_border=-1,
                                  pos_weight=-1, debug=False))
    if ld:
        cfg['loss_ld'] = dict(type='KnowledgeDistillationKLDivLoss',
                              loss_weight=0.25, T=10)
    with DefaultScope.overwrite_default_scope('mmdet'):
        return MODELS.build(cfg)


def test_ld_as_a_config_is_mmdets_ld_head():
    """mmkd's LD config (PredictionMimicLoss on GFL: positives only,
    weighted by the student's max score, KL of the side distributions at
    T = 10 averaged over the bins, weight 0.25, per level over 4 and not
    divided by the weights' sum) gives the loss_ld of
    mmdet's LDHead on the same predictions and batch."""
    from mmdet.testing import demo_mm_inputs
    torch.manual_seed(0)
    student, teacher = _gfl_head(False), _gfl_head(True)
    packed = demo_mm_inputs(2, [[3, 128, 128]] * 2, num_classes=3,
                            num_items=[4, 3])
    samples = packed['data_samples']
    for sample in samples:
        sample.set_metainfo(
            dict(batch_input_shape=(128, 128), pad_shape=(128, 128)))
    sizes = [(16, 16), (8, 8), (4, 4)]
    s_cls = [torch.randn(2, 3, *hw) for hw in sizes]
    s_reg = [torch.randn(2, 36, *hw) for hw in sizes]
    t_reg = [torch.randn(2, 36, *hw) * 2 for hw in sizes]
    t_cls = [torch.randn(2, 3, *hw) for hw in sizes]
    loss = PredictionMimicLoss(
        loss_cls=None, loss_reg=dict(type='mmkd.BoxDistributionKLLoss', T=10,
                                     class_reduction='mean', loss_weight=0.25),
        reg_weight='student', reg_region='positive', distribution_norm='none')
    loss.bind_heads(student, teacher, 'test')

    def rec(cls, reg):
        out = {'gfl_cls': cls, 'gfl_reg': reg}
        out.update({f'scales.{i}': [r] for i, r in enumerate(reg)})
        return out

    got = loss(rec(s_cls, s_reg), rec(t_cls, t_reg), samples)
    from mmdet.models.utils import unpack_gt_instances
    gt, ignore, metas = unpack_gt_instances(samples)
    want = teacher.loss_by_feat(s_cls, s_reg, gt, metas, t_reg, ignore)
    want = sum(want['loss_ld'])
    assert float(want) > 1e-3
    torch.testing.assert_close(got, want, rtol=1e-5, atol=0)
