# Copyright (c) mmkd contributors. All rights reserved.
"""ImageClassifier, LinearClsHead and GlobalAveragePooling."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import ImgDataPreprocessor
from mmengine.optim import OptimWrapper

from mmkd.models import GlobalAveragePooling, ImageClassifier, LinearClsHead
from mmkd.registry import MODELS
from mmkd.structures import ClsDataSample

NUM_CLASSES = 5


def _model(backbone=dict(type='mmkd.resnet8'), in_channels=64, **kwargs):
    return MODELS.build(
        dict(
            type='mmkd.ImageClassifier', backbone=backbone,
            neck=dict(type='mmkd.GlobalAveragePooling'),
            head=dict(type='mmkd.LinearClsHead', num_classes=NUM_CLASSES,
                      in_channels=in_channels), **kwargs))


def _batch(n=4, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, 32, 32, generator=gen)
    labels = torch.randint(0, NUM_CLASSES, (n, ), generator=gen)
    samples = [ClsDataSample().set_gt_label(int(y)) for y in labels]
    return x, labels, samples


def test_default_data_preprocessor():
    model = _model()
    assert isinstance(model.data_preprocessor, ImgDataPreprocessor)
    # No normalisation by default: uint8 images come out as float copies.
    images = [torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)] * 2
    data = model.data_preprocessor(dict(inputs=images), training=False)
    assert data['inputs'].dtype == torch.float32
    assert torch.equal(data['inputs'][0], images[0].float())


def test_tensor_mode_is_head_of_pooled_backbone():
    model = _model().eval()
    x, _, _ = _batch()
    with torch.no_grad():
        logits = model(x, mode='tensor')
        pooled = model.backbone(x).mean(dim=(2, 3))
        expected = pooled @ model.head.fc.weight.T + model.head.fc.bias
    assert logits.shape == (4, NUM_CLASSES)
    assert torch.allclose(logits, expected, atol=1e-5)


def test_loss_mode_is_cross_entropy_of_logits():
    model = _model().eval()
    x, labels, samples = _batch()
    with torch.no_grad():
        losses = model(x, samples, mode='loss')
        logits = model(x, mode='tensor')
    assert set(losses) == {'loss_cls'}
    log_probs = logits - logits.exp().sum(1, keepdim=True).log()
    expected = -log_probs[torch.arange(4), labels].mean()
    assert losses['loss_cls'].item() == pytest.approx(expected.item(),
                                                      rel=1e-5)


def test_predict_mode_fills_samples():
    model = _model().eval()
    x, labels, samples = _batch()
    with torch.no_grad():
        results = model(x, samples, mode='predict')
        logits = model(x, mode='tensor')
    assert len(results) == 4
    for i, result in enumerate(results):
        assert result is samples[i]  # filled in place, gt kept
        assert result.gt_label.tolist() == [int(labels[i])]
        expected = logits[i].exp() / logits[i].exp().sum()
        assert torch.allclose(result.pred_score, expected, atol=1e-6)
        assert result.pred_label.tolist() == [int(logits[i].argmax())]
    # Without samples, new ones are made.
    with torch.no_grad():
        fresh = model(x, mode='predict')
    assert [type(s) for s in fresh] == [ClsDataSample] * 4
    assert 'gt_label' not in fresh[0]
    assert torch.equal(fresh[2].pred_label, results[2].pred_label)


def test_documented_hook_points():
    """``head.pre_logits`` gives the B x D feature, ``head.fc`` the logits."""
    model = _model(backbone=dict(type='mmkd.resnet8x4'),
                   in_channels=256).eval()
    x, _, _ = _batch(n=3)
    recorded = {}
    handles = [
        model.get_submodule(name).register_forward_hook(
            lambda m, a, out, name=name: recorded.__setitem__(name, out))
        for name in ('head.pre_logits', 'head.fc')
    ]
    with torch.no_grad():
        logits = model(x, mode='tensor')
        pooled = model.backbone(x).mean(dim=(2, 3))
    for handle in handles:
        handle.remove()
    assert recorded['head.pre_logits'].shape == (3, 256)
    assert torch.allclose(recorded['head.pre_logits'], pooled, atol=1e-6)
    assert recorded['head.fc'].shape == (3, NUM_CLASSES)
    assert torch.equal(recorded['head.fc'], logits)


class TwoStageBackbone(nn.Module):
    """Returns a tuple of stages, like mmdet's ResNet."""

    def __init__(self):
        super().__init__()
        self.stage1 = nn.Conv2d(3, 4, 3, 2, 1)
        self.stage2 = nn.Conv2d(4, 6, 3, 2, 1)

    def forward(self, x):
        c1 = self.stage1(x)
        return c1, self.stage2(c1)


def test_tuple_backbone_uses_last_stage():
    model = _model(backbone=TwoStageBackbone(), in_channels=6)
    x, _, _ = _batch(n=2)
    with torch.no_grad():
        logits = model(x)
        last = model.backbone(x)[1].mean(dim=(2, 3))
    assert torch.allclose(logits, model.head.fc(last), atol=1e-6)


def test_mmdet_resnet_backbone():
    pytest.importorskip('mmcv.ops', reason='mmcv (for mmdet) not built')
    pytest.importorskip('mmdet')
    model = _model(
        backbone=dict(type='mmdet.ResNet', depth=18, out_indices=(2, 3)),
        in_channels=512)
    x, _, samples = _batch(n=2)
    assert model(x).shape == (2, NUM_CLASSES)
    assert model(x, samples, mode='loss')['loss_cls'].item() > 0


def test_without_neck_on_vector_backbone():
    model = MODELS.build(
        dict(
            type='mmkd.ImageClassifier',
            backbone=dict(type='mmkd.MnistConvNet', channels=(4, 8),
                          hidden=16), head=dict(type='mmkd.LinearClsHead',
                                                num_classes=10,
                                                in_channels=16)))
    assert model.neck is None
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_train_step_reduces_loss_on_fixed_batch():
    torch.manual_seed(0)
    model = _model()
    gen = torch.Generator().manual_seed(1)
    images = [
        torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8, generator=gen)
        for _ in range(8)
    ]
    data = dict(
        inputs=images, data_samples=[
            ClsDataSample().set_gt_label(i % NUM_CLASSES) for i in range(8)
        ])
    model.data_preprocessor = ImgDataPreprocessor(mean=[127.5] * 3,
                                                  std=[64.0] * 3)
    optim = OptimWrapper(
        torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9))
    losses = [
        model.train_step(data, optim)['loss_cls'].item() for _ in range(15)
    ]
    assert losses[-1] < 0.5 * losses[0]
    # val_step goes through predict mode.
    predictions = model.val_step(data)
    assert len(predictions) == 8 and 'pred_score' in predictions[0]


def test_build_time_width_check():
    with pytest.raises(
            ValueError, match='outputs 256 channels but the head'
            ' has in_channels=64; set head in_channels=256'):
        _model(backbone=dict(type='mmkd.resnet8x4'), in_channels=64)


def test_bad_inputs_raise_clear_errors():
    model = _model()
    x, _, samples = _batch(n=2)
    with pytest.raises(ValueError, match="mode must be 'tensor'"):
        model(x, mode='logits')
    with pytest.raises(ValueError, match='have no gt_label'):
        model(x, [ClsDataSample(), samples[1]], mode='loss')
    with pytest.raises(ValueError, match='needs data_samples'):
        model(x, None, mode='loss')
    with pytest.raises(ValueError, match='got 1 data samples for a batch'):
        model(x, samples[:1], mode='predict')


def test_head_checks():
    head = LinearClsHead(num_classes=3, in_channels=8)
    assert isinstance(head.pre_logits, nn.Identity)
    assert head(torch.randn(2, 8)).shape == (2, 3)
    # Of a tuple of features, the last is used.
    feats = (torch.randn(2, 4), torch.randn(2, 8))
    assert torch.equal(head(feats), head(feats[1]))
    with pytest.raises(ValueError, match='GlobalAveragePooling'):
        head(torch.randn(2, 8, 4, 4))
    with pytest.raises(ValueError, match='expects B x 8 features'):
        head(torch.randn(2, 7))
    for bad in (dict(num_classes=0,
                     in_channels=8), dict(num_classes=3, in_channels=2.0)):
        with pytest.raises(ValueError, match='must be a positive int'):
            LinearClsHead(**bad)


def test_head_with_nn_loss_module():
    head = LinearClsHead(num_classes=3, in_channels=4,
                         loss=nn.CrossEntropyLoss(reduction='sum'))
    feats = torch.randn(2, 4)
    samples = [ClsDataSample().set_gt_label(y) for y in (0, 2)]
    loss = head.loss(feats, samples)['loss_cls']
    expected = F.cross_entropy(
        head(feats), torch.tensor([0, 2]), reduction='sum')
    assert torch.allclose(loss, expected)


def test_global_average_pooling():
    gap = GlobalAveragePooling()
    x = torch.arange(16.).view(1, 1, 4, 4).repeat(2, 3, 1, 1)
    assert gap(x).shape == (2, 3)
    assert torch.allclose(gap(x), torch.full((2, 3), 7.5))
    pooled = gap((x, 2 * x))
    assert isinstance(pooled, tuple) and torch.allclose(pooled[1], 2 * gap(x))
    with pytest.raises(ValueError, match='needs no neck'):
        gap(torch.randn(2, 3))


def test_classifier_registered_in_mmkd_scope():
    assert MODELS.get('ImageClassifier') is ImageClassifier
    assert MODELS.get('mmkd.LinearClsHead') is LinearClsHead
