# Copyright (c) mmkd contributors. All rights reserved.
"""The CIFAR model zoo of the KD literature and the MNIST CNN."""
import pytest
import torch

from mmkd.models.backbones import (CIFAR_MODEL_ZOO, CifarMobileNetV2,
                                   CifarResNet, CifarShuffleNetV1,
                                   CifarShuffleNetV2, CifarVGG,
                                   CifarWideResNet, MnistConvNet)
from mmkd.models.backbones.cifar_shufflenet import channel_shuffle
from mmkd.registry import MODELS

ZOO = ('resnet8 resnet14 resnet20 resnet32 resnet44 resnet56 resnet110 '
       'resnet8x4 resnet32x4 wrn_16_1 wrn_16_2 wrn_40_1 wrn_40_2 vgg8 vgg11 '
       'vgg13 vgg16 vgg19 MobileNetV2 ShuffleV1 ShuffleV2').split()

# Parameter counts (millions, with a 100-class linear head) published in
# the KD literature (CRD, Tian et al. ICLR 2020; ReviewKD/DKD tables).
PUBLISHED_PARAMS = {
    'resnet20': 0.28,
    'resnet56': 0.86,
    'resnet110': 1.74,
    'resnet8x4': 1.23,
    'resnet32x4': 7.43,
    'wrn_16_2': 0.70,
    'wrn_40_1': 0.57,
    'wrn_40_2': 2.25,
    'vgg8': 3.96,
    'vgg13': 9.46,
    'MobileNetV2': 0.81,
    'ShuffleV1': 0.95,
    'ShuffleV2': 1.35,
}


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    """The machine has 2 shared cores: one thread is faster here."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _classifier(name, num_classes):
    backbone = MODELS.build(dict(type=f'mmkd.{name}'))
    return MODELS.build(
        dict(
            type='mmkd.ImageClassifier', backbone=backbone,
            neck=dict(type='mmkd.GlobalAveragePooling'),
            head=dict(type='mmkd.LinearClsHead', num_classes=num_classes,
                      in_channels=backbone.out_channels)))


def _num_params(module):
    return sum(p.numel() for p in module.parameters())


def test_zoo_is_complete():
    assert sorted(CIFAR_MODEL_ZOO) == sorted(ZOO)


@pytest.mark.parametrize('name', ZOO)
def test_zoo_model_forward(name):
    model = _classifier(name, num_classes=7)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        feat = model.backbone(x)
        logits = model(x, mode='tensor')
    assert feat.dim() == 4 and feat.shape[:2] == (2,
                                                  model.backbone.out_channels)
    assert logits.shape == (2, 7)
    assert torch.isfinite(logits).all()
    # Every stage the docs name exists, with the documented widths.
    for i, width in enumerate(model.backbone.stage_channels):
        stage = model.backbone.get_submodule(f'layer{i + 1}')
        outs = []
        handle = stage.register_forward_hook(
            lambda m, a, out: outs.append(out))
        with torch.no_grad():
            model.backbone(x)
        handle.remove()
        assert outs[0].shape[:2] == (2, width)


@pytest.mark.parametrize('name', sorted(PUBLISHED_PARAMS))
def test_param_counts_match_literature(name):
    millions = _num_params(_classifier(name, num_classes=100)) / 1e6
    assert millions == pytest.approx(PUBLISHED_PARAMS[name], rel=0.05)


def test_resnet8_param_count_by_hand():
    """Count each layer of resnet8 (one block a stage) by hand."""

    def conv(i, o, k):
        return i * o * k * k

    def bn(c):
        return 2 * c

    stem = conv(3, 16, 3) + bn(16)
    stage1 = 2 * (conv(16, 16, 3) + bn(16))
    stage2 = conv(16, 32, 3) + conv(32, 32, 3) + 2 * bn(32) + \
        conv(16, 32, 1) + bn(32)
    stage3 = conv(32, 64, 3) + conv(64, 64, 3) + 2 * bn(64) + \
        conv(32, 64, 1) + bn(64)
    head = 64 * 10 + 10
    assert _num_params(_classifier('resnet8', 10)) == \
        stem + stage1 + stage2 + stage3 + head


def test_feature_map_sizes():
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert MODELS.build(dict(type='mmkd.resnet8x4'))(x).shape == (1, 256,
                                                                      8, 8)
        assert MODELS.build(dict(type='mmkd.wrn_16_2'))(x).shape == (1, 128, 8,
                                                                     8)
        assert MODELS.build(dict(type='mmkd.vgg8'))(x).shape == (1, 512, 4, 4)
        assert CifarVGG(8, pool_after_block4=True)(torch.randn(
            1, 3, 64, 64)).shape == (1, 512, 4, 4)
        assert MODELS.build(dict(type='mmkd.MobileNetV2'))(x).shape == (1,
                                                                        1280,
                                                                        2, 2)
        assert MODELS.build(dict(type='mmkd.ShuffleV1'))(x).shape == (1, 960,
                                                                      4, 4)
        assert MODELS.build(dict(type='mmkd.ShuffleV2'))(x).shape == (1, 1024,
                                                                      4, 4)


def test_alias_equals_family_class():
    torch.manual_seed(0)
    alias = MODELS.build(dict(type='mmkd.resnet32x4'))
    torch.manual_seed(0)
    family = MODELS.build(
        dict(type='mmkd.CifarResNet', depth=32, stage_channels=(64, 128, 256),
             stem_channels=32))
    assert isinstance(alias, CifarResNet)
    alias_state, family_state = alias.state_dict(), family.state_dict()
    assert list(alias_state) == list(family_state)
    for key in alias_state:
        assert torch.equal(alias_state[key], family_state[key])
    wrn = MODELS.build(dict(type='mmkd.wrn_40_2', drop_rate=0.3))
    assert isinstance(wrn, CifarWideResNet) and wrn.drop_rate == 0.3


def test_alias_cannot_override_its_architecture():
    with pytest.raises(TypeError, match=r"resnet32x4 fixes \['depth'\]"):
        MODELS.build(dict(type='mmkd.resnet32x4', depth=8))


@pytest.mark.parametrize('build, match', [
    (lambda: CifarResNet(depth=10), 'depth must be 6n \\+ 2'),
    (lambda: CifarResNet(depth=8, stage_channels=(16, 32)), 'must have 3'),
    (lambda: CifarWideResNet(depth=15), 'depth must be 6n \\+ 4'),
    (lambda: CifarWideResNet(depth=16, drop_rate=1.0), 'drop_rate'),
    (lambda: CifarVGG(depth=12), 'depth must be one of'),
    (lambda: CifarMobileNetV2(widen_factor=0), 'widen_factor'),
    (lambda: CifarShuffleNetV1(groups=7), 'multiples of groups=7'),
    (lambda: CifarShuffleNetV2(stage_channels=(116, 231, 464)), 'even'),
    (lambda: MnistConvNet(channels=(4, 4, 4, 4, 4, 4)), 'fewer stages'),
    (lambda: MnistConvNet(hidden=0), 'hidden must be a positive int'),
])
def test_bad_arguments_fail_at_build(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_channel_shuffle_by_hand():
    x = torch.arange(6.).view(1, 6, 1, 1)
    assert channel_shuffle(x, 2).flatten().tolist() == [0, 3, 1, 4, 2, 5]
    assert channel_shuffle(x, 3).flatten().tolist() == [0, 2, 4, 1, 3, 5]


def test_wrn_dropout_only_in_training():
    torch.manual_seed(0)
    net = CifarWideResNet(depth=10, drop_rate=0.5)
    x = torch.randn(2, 3, 32, 32)
    net.eval()
    with torch.no_grad():
        assert torch.equal(net(x), net(x))
    net.train()
    with torch.no_grad():
        assert not torch.equal(net(x), net(x))


def test_mnist_convnet_sizes():
    teacher = MnistConvNet(channels=(32, 64), hidden=128)
    student = MnistConvNet(channels=(4, 8), hidden=16)
    # conv (no bias) + BN per stage, then Linear(C * 7 * 7, hidden).
    assert _num_params(
        teacher) == (9 * 32 + 64) + (9 * 32 * 64 + 128) + (64 * 49 * 128 + 128)
    assert _num_params(student) == (9 * 4 + 8) + (9 * 4 * 8 +
                                                  16) + (8 * 49 * 16 + 16)
    assert 100_000 < _num_params(teacher) < 1_000_000
    assert _num_params(student) < 10_000
    x = torch.randn(3, 1, 28, 28)
    assert teacher(x).shape == (3, 128) and teacher.out_channels == 128
    maps = MnistConvNet(channels=(8, 16), hidden=None)
    assert maps(x).shape == (3, 16, 7, 7) and maps.out_channels == 16
    with pytest.raises(ValueError, match='built for 28 x 28'):
        teacher(torch.randn(1, 1, 32, 32))
