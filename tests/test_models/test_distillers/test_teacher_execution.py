# Copyright (c) mmkd contributors. All rights reserved.
"""The teacher's execution options give the plain fp32 teacher's features
within their stated tolerance, in the student's dtype."""
import pytest
import torch
from mmengine.registry import DefaultScope

from dense_utils import config_path, load
from mmkd.registry import MODELS

RETINA_S = 'configs/toy/retinanet_r18-w32_shapes-coco.py'
RETINA_T = 'configs/toy/retinanet_r18-w64_shapes-coco.py'
# relative error of the whole feature (Frobenius norm), per option
TOLERANCE = {
    ('contiguous', 'fp32'): 0.0,  # the plain teacher itself
    ('channels_last', 'fp32'): 1e-5,  # float rounding: summation order
    ('auto', 'fp32'): 1e-5,
    ('contiguous', 'bf16'): 1e-2,  # 8-bit mantissa: 6e-3 measured
    ('contiguous', 'fp16'): 2e-3,  # 11-bit mantissa: 8e-4 measured
}


@pytest.fixture(scope='module')
def teacher_ckpt(tmp_path_factory):
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(load(RETINA_T).model)
    model.init_weights()
    path = tmp_path_factory.mktemp('teacher') / 'teacher.pth'
    torch.save({'state_dict': model.state_dict()}, path)
    return str(path)


def _distiller(teacher_ckpt, **teacher_exec):
    with DefaultScope.overwrite_default_scope('mmdet'):
        return MODELS.build(
            dict(type='mmkd.SingleTeacherDistiller',
                 student=load(RETINA_S).model,
                 teacher=dict(config=config_path(RETINA_T),
                              checkpoint=teacher_ckpt),
                 teacher_exec=teacher_exec or None,
                 distill=[dict(student='neck', teacher='neck',
                               loss=dict(type='mmkd.PKDLoss'))])).eval()


def _neck(model, inputs):
    return model.teacher_outputs(inputs, None)['neck'][0]


@pytest.mark.parametrize('memory_format,precision', list(TOLERANCE))
def test_options_match_the_plain_fp32_teacher(teacher_ckpt, memory_format,
                                              precision):
    torch.manual_seed(0)
    inputs = torch.randn(2, 3, 64, 64)
    with torch.no_grad():  # the plain teacher, computed by hand
        plain = _distiller(teacher_ckpt, memory_format='contiguous')
        want = plain.teacher.neck(plain.teacher.backbone(inputs))
    model = _distiller(teacher_ckpt, memory_format=memory_format,
                       precision=precision)
    got = _neck(model, inputs)
    assert len(got) == len(want) == 5
    for g, w in zip(got, want):
        assert g.dtype == torch.float32  # the student's dtype
        err = ((g - w).norm() / w.norm()).item()
        assert err <= TOLERANCE[(memory_format, precision)], err
    if precision != 'fp32':
        # half precision really ran (else the tolerance proves nothing)
        assert any(not torch.equal(g, w) for g, w in zip(got, want))


def test_auto_memory_format_is_channels_last_for_a_conv_teacher(
        teacher_ckpt):
    model = _distiller(teacher_ckpt)
    assert model.teacher_exec.channels_last
    conv = model.teacher.backbone.conv1.weight
    assert conv.is_contiguous(memory_format=torch.channels_last)
    assert not model.student.backbone.conv1.weight.is_contiguous(
        memory_format=torch.channels_last)  # the student is untouched


@pytest.mark.parametrize('bad,match', [
    (dict(precision='int8'), r"precision='int8' is not one of \['fp32', "
     r"'fp16', 'bf16'\]"),
    (dict(memory_format='nhwc'), r"memory_format='nhwc' is not one of "
     r"\['auto', 'contiguous', 'channels_last'\]"),
    (dict(inference_mode=True), r"unknown keys \['inference_mode'\]"),
])
def test_bad_option_fails_at_build_time(teacher_ckpt, bad, match):
    with pytest.raises(ValueError, match=match):
        _distiller(teacher_ckpt, **bad)
