# Copyright (c) mmkd contributors. All rights reserved.
"""The teacher's execution options give the plain fp32 teacher's features
within their stated tolerance, in the student's dtype."""
import pytest
import torch
from dense_utils import config_path, load
from mmengine.registry import DefaultScope

from mmkd.registry import MODELS
from mmkd.utils import torch_private

RETINA_S = 'configs/toy/retinanet_r18-w32_shapes-coco.py'
RETINA_T = 'configs/toy/retinanet_r18-w64_shapes-coco.py'
PSP_S = 'configs/toy/pspnet_r18-w16_shapes-cityscapes.py'
PSP_T = 'configs/toy/pspnet_r18-w32_shapes-cityscapes.py'
PLAIN = dict(memory_format='contiguous', fold_batchnorm=False, prepack=False)
# relative error of the whole feature (Frobenius norm), per option
TOLERANCE = [
    (PLAIN, 0.0),  # the plain teacher itself
    # float rounding (summation order, the folded weights): 1e-6 measured
    (dict(PLAIN, memory_format='channels_last'), 1e-5),
    (dict(PLAIN, fold_batchnorm=True), 1e-5),
    (dict(PLAIN, memory_format='channels_last', prepack=True), 1e-5),
    (dict(prepack=False), 1e-5),
    # the default: auto (channels_last), BN folded, prepacked, fp32
    (dict(), 1e-5),
    # half precision (plain layout): mantissa of 8 / 11 bits; measured
    # 6e-3 to 1.01e-2 (bf16, by thread count) and 8e-4 (fp16)
    (dict(PLAIN, precision='bf16'), 2e-2),
    (dict(PLAIN, precision='fp16'), 2e-3),
]


def _random_bn_statistics(model) -> None:
    """Running statistics and affine parameters away from the identity
    (a fresh model's BN is the identity map, which folds trivially)."""
    gen = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=gen) * 2 - 1)
            m.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=gen) - 0.5)


def _checkpoint(rel, scope, path) -> str:
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(load(rel).model)
    model.init_weights()
    _random_bn_statistics(model)
    torch.save({'state_dict': model.state_dict()}, path)
    return str(path)


@pytest.fixture(scope='module')
def teacher_ckpt(tmp_path_factory):
    return _checkpoint(RETINA_T, 'mmdet',
                       tmp_path_factory.mktemp('teacher') / 'teacher.pth')


def _distiller(teacher_ckpt, distill=None, student=RETINA_S, teacher=RETINA_T,
               scope='mmdet', **teacher_exec):
    distill = distill or [
        dict(student='neck', teacher='neck', loss=dict(type='mmkd.PKDLoss'))
    ]
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(
            dict(
                type='mmkd.SingleTeacherDistiller',
                student=load(student).model, teacher=dict(
                    config=config_path(teacher), checkpoint=teacher_ckpt),
                teacher_exec=teacher_exec or None, distill=distill)).eval()


def _neck(model, inputs):
    return model.teacher_outputs(inputs, None)['neck'][0]


@pytest.mark.parametrize('options,tolerance', TOLERANCE)
def test_options_match_the_plain_fp32_teacher(teacher_ckpt, options,
                                              tolerance):
    torch.manual_seed(0)
    inputs = torch.randn(2, 3, 64, 64)
    with torch.no_grad():  # the plain teacher, computed by hand
        plain = _distiller(teacher_ckpt, **PLAIN)
        want = plain.teacher.neck(plain.teacher.backbone(inputs))
    model = _distiller(teacher_ckpt, **options)
    got = _neck(model, inputs)
    assert len(got) == len(want) == 5
    for g, w in zip(got, want):
        assert g.dtype == torch.float32  # the student's dtype
        err = ((g - w).norm() / w.norm()).item()
        assert err <= tolerance, err
    if options != PLAIN:
        # the option really ran (else the tolerance proves nothing)
        assert any(not torch.equal(g, w) for g, w in zip(got, want))
    exe = model.teacher_exec
    packed = [
        m.packed_weight.packed is not None for m in model.teacher.modules()
        if hasattr(m, 'packed_weight')
    ]
    prepacks = exe.prepack and exe.channels_last and \
        exe.precision in ('auto', 'fp32')
    if prepacks and not torch_private.unavailable():
        assert exe.num_prepacked > 0
    assert any(packed) == (prepacks and exe.num_prepacked > 0)


def _bn_count(module) -> int:
    return sum(isinstance(m, torch.nn.BatchNorm2d) for m in module.modules())


def test_every_backbone_batchnorm_is_folded_and_the_state_kept(teacher_ckpt):
    model = _distiller(teacher_ckpt)
    # a ResNet's every BatchNorm follows a convolution (stem, blocks,
    # downsample); the FPN has none
    assert model.teacher_exec.num_folded == _bn_count(
        model.teacher.backbone) == 20
    # the teacher's state is the checkpoint's, the folded weights aside
    saved = torch.load(teacher_ckpt)['state_dict']
    state = model.teacher.state_dict()
    assert set(state) == set(saved)
    for key, value in saved.items():
        assert torch.equal(state[key], value), key
    assert _distiller(teacher_ckpt,
                      fold_batchnorm=False).teacher_exec.num_folded == 0
    # and every convolution of the teacher runs with a prepacked weight
    convs = sum(
        isinstance(m, torch.nn.Conv2d) for m in model.teacher.modules())
    assert model.teacher_exec.num_prepacked == convs > 20


def test_recorded_modules_keep_their_own_outputs(teacher_ckpt):
    """A recorded BatchNorm and a recorded convolution are not folded away:
    their recordings are the plain teacher's (by hand: conv2, then bn2)."""
    distill = [
        dict(
            student='backbone.layer2.0.conv2',
            teacher='backbone.layer2.0.conv2',
            connector=dict(type='mmkd.ConvConnector', in_channels=64,
                           out_channels=128),
            loss=dict(type='mmkd.FeatureMSELoss')),
        dict(
            student='backbone.layer3.0.bn1', teacher='backbone.layer3.0.bn1',
            connector=dict(type='mmkd.ConvConnector', in_channels=128,
                           out_channels=256),
            loss=dict(type='mmkd.FeatureMSELoss'))
    ]
    model = _distiller(teacher_ckpt, distill, memory_format='contiguous')
    assert model.teacher_exec.num_folded == _bn_count(
        model.teacher.backbone) - 2
    torch.manual_seed(0)
    inputs = torch.randn(2, 3, 64, 64)
    plain = _distiller(teacher_ckpt, distill, **PLAIN).teacher
    with torch.no_grad():
        c2 = plain.backbone.layer2[0].conv2
        x = plain.backbone.layer1(
            plain.backbone.maxpool(
                plain.backbone.relu(
                    plain.backbone.bn1(plain.backbone.conv1(inputs)))))
        b0 = plain.backbone.layer2[0]
        want_conv2 = c2(b0.relu(b0.bn1(b0.conv1(x))))
        x3 = plain.backbone.layer2(x)
        b3 = plain.backbone.layer3[0]
        want_bn1 = b3.bn1(b3.conv1(x3))
    got = model.teacher_outputs(inputs, None)
    for path, want in (('backbone.layer2.0.conv2', want_conv2),
                       ('backbone.layer3.0.bn1', want_bn1)):
        err = ((got[path][0] - want).norm() / want.norm()).item()
        assert err <= 1e-5, (path, err)


def test_folded_segmentation_teacher_matches_the_plain_one(tmp_path):
    """mmseg's ResNetV1c (a deep stem in an nn.Sequential) and the PSP
    head's ConvModules fold too; the logits stay the plain teacher's."""
    ckpt = _checkpoint(PSP_T, 'mmseg', tmp_path / 'psp.pth')
    distill = [
        dict(student='decode_head.conv_seg', teacher='decode_head.conv_seg',
             loss=dict(type='mmkd.CWDLoss', tau=4.0))
    ]
    kw = dict(student=PSP_S, teacher=PSP_T, scope='mmseg')
    model = _distiller(ckpt, distill, **kw)
    plain = _distiller(ckpt, distill, **kw, **PLAIN)
    # every BatchNorm of the backbone and the head follows a convolution
    assert model.teacher_exec.num_folded == _bn_count(model.teacher) > 20
    torch.manual_seed(0)
    inputs = torch.randn(2, 3, 64, 128)
    got = model.teacher_outputs(inputs, None)['decode_head.conv_seg'][0]
    want = plain.teacher_outputs(inputs, None)['decode_head.conv_seg'][0]
    assert not torch.equal(got, want)
    assert ((got - want).norm() / want.norm()).item() <= 1e-5


def test_auto_memory_format_is_channels_last_for_a_conv_teacher(teacher_ckpt):
    model = _distiller(teacher_ckpt)
    assert model.teacher_exec.channels_last
    conv = model.teacher.backbone.conv1.weight
    assert conv.is_contiguous(memory_format=torch.channels_last)
    assert not model.student.backbone.conv1.weight.is_contiguous(
        memory_format=torch.channels_last)  # the student is untouched


@pytest.mark.parametrize('bad,match', [
    (dict(precision='int8'), r"precision='int8' is not one of \['auto', "
     r"'fp32', 'fp16', 'bf16'\]"),
    (dict(memory_format='nhwc'), r"memory_format='nhwc' is not one of "
     r"\['auto', 'contiguous', 'channels_last'\]"),
    (dict(fold_batchnorm='yes'), r"fold_batchnorm='yes' is not one of "
     r"\[True, False\]"),
    (dict(compile=1), r"compile=1 is not one of \[True, False\]"),
    (dict(prepack='no'), r"prepack='no' is not one of \[True, False\]"),
    (dict(inference_mode=True), r"unknown keys \['inference_mode'\]"),
])
def test_bad_option_fails_at_build_time(teacher_ckpt, bad, match):
    with pytest.raises(ValueError, match=match):
        _distiller(teacher_ckpt, **bad)


def test_compiled_backbone_matches_the_plain_teacher(teacher_ckpt):
    model = _distiller(teacher_ckpt, compile=True)
    plain = _distiller(teacher_ckpt, **PLAIN)
    torch.manual_seed(0)
    for shape in ((2, 3, 64, 64), (2, 3, 64, 96)):  # a new shape recompiles
        inputs = torch.randn(*shape)
        got = _neck(model, inputs)
        want = _neck(plain, inputs)
        for g, w in zip(got, want):
            assert ((g - w).norm() / w.norm()).item() <= 1e-5
    compiled = model.teacher_exec.compiled
    assert compiled is not None and not compiled.failed
    assert list(compiled.compiled) == [(torch.device('cpu'), torch.float32)]


def test_compile_is_skipped_when_a_backbone_module_is_recorded(teacher_ckpt):
    distill = [
        dict(
            student='backbone.layer3', teacher='backbone.layer3',
            connector=dict(type='mmkd.ConvConnector', in_channels=128,
                           out_channels=256),
            loss=dict(type='mmkd.FeatureMSELoss'))
    ]
    model = _distiller(teacher_ckpt, distill, compile=True)
    assert model.teacher_exec.compiled is None  # its hooks must run
    assert 'forward' not in vars(model.teacher.backbone)


def test_a_failed_compilation_falls_back_to_the_eager_backbone(
        teacher_ckpt, monkeypatch):

    def broken_compile(fn):

        def run(*args, **kwargs):
            raise RuntimeError('no C++ compiler')

        return run

    monkeypatch.setattr(torch, 'compile', broken_compile)
    model = _distiller(teacher_ckpt, compile=True, memory_format='contiguous',
                       fold_batchnorm=False)
    inputs = torch.randn(2, 3, 64, 64)
    got = _neck(model, inputs)
    want = _neck(_distiller(teacher_ckpt, **PLAIN), inputs)
    assert model.teacher_exec.compiled.failed
    assert all(torch.equal(g, w) for g, w in zip(got, want))


def test_a_folded_teacher_refuses_train_mode(teacher_ckpt):
    model = _distiller(teacher_ckpt, memory_format='contiguous')
    model.train()  # the distiller keeps its teacher in eval mode
    assert not model.teacher.training
    model.teacher.train()  # forced by hand: the fold would be wrong
    with pytest.raises(RuntimeError, match='fold_batchnorm=False'):
        model.teacher.backbone(torch.randn(1, 3, 32, 32))
