# Copyright (c) mmkd contributors. All rights reserved.
"""The loss protocol of mmkd.models.losses.base: declared capabilities,
what a call passes to a loss, and how the distiller uses them."""
import pytest
import torch
import torch.nn as nn
from test_models.test_losses.test_lsh_loss import _distiller

from mmkd.models.distillers import batch_losses
from mmkd.models.losses import (BaseDistillLoss, BaseFeatureLoss,
                                BaseLogitLoss, CWDLoss, FeatureMSELoss, KDLoss,
                                LSHLoss)
from mmkd.registry import MODELS
from mmkd.structures import ClsDataSample


@MODELS.register_module(name='ProtocolTestLabelledMSE', force=True)
class LabelledMSE(BaseFeatureLoss):
    """Test-only loss that needs the labels: MSE plus the mean label."""
    accepts_vectors = True
    needs_labels = True

    def compute(self, student_feat, teacher_feat, data_samples=None,
                labels=None):
        self.record_log_var('mean_label', labels.float().mean())
        return (student_feat - teacher_feat).pow(2).mean() + \
            labels.float().mean()


@MODELS.register_module(name='ProtocolTestPlainModule', force=True)
class PlainModule(nn.Module):

    def forward(self, student_feat, teacher_feat):
        return (student_feat - teacher_feat).pow(2).mean()


def _registered_losses():
    MODELS.import_from_location()
    return sorted(
        (name, cls) for name, cls in MODELS.module_dict.items()
        if isinstance(cls, type) and issubclass(cls, BaseDistillLoss))


def test_every_loss_declares_the_capabilities():
    classes = dict(_registered_losses())
    assert {'LSHLoss', 'AvatarLoss', 'KDLoss', 'CWDLoss'} <= set(classes)
    for name, cls in classes.items():
        for attr in ('joint_levels', 'needs_teacher_logits', 'needs_labels'):
            assert attr in dir(cls), (name, attr)
        if issubclass(cls, BaseLogitLoss):
            assert cls.needs_labels is True, name
            assert cls.needs_teacher_logits is False, name
        if issubclass(cls, BaseFeatureLoss):
            for attr in ('batch_separable', 'accepts_maps', 'accepts_vectors',
                         'computes_many'):
                assert attr in dir(cls), (name, attr)
    assert CWDLoss.computes_many and not FeatureMSELoss.computes_many
    # the defaults
    loss = FeatureMSELoss()
    assert not (loss.joint_levels or loss.needs_teacher_logits
                or loss.needs_labels)
    assert loss.pop_log_vars() == {} and KDLoss().pop_log_vars() == {}
    with pytest.raises(NotImplementedError, match='computes_many is False'):
        loss.compute_many(torch.zeros(1, 2), torch.zeros(3, 1, 2))


def test_needs_are_passed_as_arguments():
    s, t = torch.ones(2, 3), torch.zeros(2, 3)
    loss = LabelledMSE(loss_weight=2.0)
    value = loss(s, t, labels=torch.tensor([1, 2]), teacher_logits='unused')
    assert float(value) == 2.0 * (1.0 + 1.5)
    assert float(loss.pop_log_vars()['mean_label']) == 1.5
    # a loss that needs neither gets neither (its compute takes neither)
    assert float(FeatureMSELoss()(s, t, None, teacher_logits=torch.ones(2, 4),
                                  labels=torch.tensor([0, 1]))) == 1.0
    # LSHLoss' needs follow its options
    lsh = LSHLoss(in_channels=3, mode='l2', teacher_correct_only=True,
                  level_reduction='mean')
    assert lsh.joint_levels and lsh.needs_labels and lsh.needs_teacher_logits
    logits = torch.tensor([[0., 1.], [1., 0.]])
    value = lsh.forward_levels([s], [t], teacher_logits=logits,
                               labels=torch.tensor([1, 1]))
    assert float(value) == 1.0
    assert float(lsh.pop_log_vars()['teacher_acc']) == 0.5


def test_distiller_refuses_a_loss_outside_the_protocol():
    with pytest.raises(
            TypeError, match='PlainModule is not an mmkd feature '
            'or logit loss: subclass mmkd.models.losses.'
            'BaseFeatureLoss'):
        _distiller(loss=dict(type='mmkd.ProtocolTestPlainModule'))


def test_distiller_takes_the_labels_once_per_batch(monkeypatch):
    model = _distiller(
        dict(name='kd', student='head.fc', teacher='head.fc',
             loss=dict(type='mmkd.KDLoss')),
        loss=dict(type='mmkd.ProtocolTestLabelledMSE'))
    assert [e.needs_labels for e in model.distill_entries] == [True, True]
    calls = []
    extract = batch_losses.labels_from_data_samples

    def counted(data_samples):
        calls.append(len(data_samples))
        return extract(data_samples)

    monkeypatch.setattr(batch_losses, 'labels_from_data_samples', counted)
    x = torch.randn(4, 1, 28, 28)
    samples = [ClsDataSample().set_gt_label(y) for y in (3, 1, 4, 1)]
    losses = model.loss(x, samples)
    assert calls == [4]
    assert float(losses['distill.feat.mean_label']) == 2.25
    assert {'distill.feat.loss', 'distill.kd.loss'} <= set(losses)
    for bad in (None, [], [ClsDataSample()]):
        with pytest.raises(ValueError, match='needs class labels'):
            extract(bad)
