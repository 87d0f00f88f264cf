# Copyright (c) mmkd contributors. All rights reserved.
"""A teacher trained with another normalisation sees the student's batch
re-normalised for it: what its own data preprocessor makes of the same
images, to float rounding."""
import copy

import pytest
import torch
from dense_utils import load
from mmengine.registry import DefaultScope

from mmkd.models.teacher.teacher_view import TeacherView
from mmkd.registry import MODELS

SWIN_PKD = 'configs/pkd/pkd_fpn_retinanet_swin-t32_r18-w32_toy-shapes.py'
SWIN_T = 'configs/toy/retinanet_swin-t32_shapes-coco.py'
# the student in BGR with values of its own; the toy Swin teacher keeps
# mmdet's ImageNet mean/std in RGB
STUDENT_PRE = dict(type='DetDataPreprocessor', mean=[100., 110., 120.],
                   std=[50., 60., 70.], bgr_to_rgb=False, pad_size_divisor=32)


def _build(cfg):
    with DefaultScope.overwrite_default_scope('mmdet'):
        return MODELS.build(copy.deepcopy(cfg))


def _raw_batch(seed=0):
    """Two images of different sizes (the smaller one padded) in mmdet's
    packed form."""
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    gen = torch.Generator().manual_seed(seed)
    images, samples = [], []
    for h, w in ((60, 70), (45, 64)):
        images.append(
            torch.randint(0, 256, (3, h, w), generator=gen, dtype=torch.uint8))
        sample = DetDataSample()
        sample.set_metainfo(
            dict(img_shape=(h, w), ori_shape=(h, w), scale_factor=(1., 1.)))
        sample.gt_instances = InstanceData(
            bboxes=torch.tensor([[4., 6., 30., 40.]]),
            labels=torch.tensor([1]))
        samples.append(sample)
    return dict(inputs=images, data_samples=samples)


def test_renormalised_batch_is_the_teachers_own():
    student_pre = _build(STUDENT_PRE)
    teacher_pre = _build(load(SWIN_T).model.data_preprocessor)
    assert teacher_pre._channel_conversion  # RGB, the student BGR
    s = student_pre(_raw_batch(), False)
    t = teacher_pre(_raw_batch(), False)
    view = TeacherView.between(student_pre, teacher_pre)
    assert not view.identity
    assert 're-normalised for the teacher' in view.describe()
    got = view(s['inputs'], s['data_samples'])
    assert not torch.allclose(s['inputs'], t['inputs'], atol=0.1)
    torch.testing.assert_close(got, t['inputs'], rtol=0, atol=1e-5)


def test_the_same_normalisation_passes_the_batch_as_it_is():
    pre = _build(load(SWIN_T).model.data_preprocessor)
    view = TeacherView.between(pre,
                               _build(load(SWIN_T).model.data_preprocessor))
    x = torch.randn(2, 3, 32, 32)
    assert view.identity and view(x) is x
    assert "the student's batch as it is" in view.describe()


def test_the_distiller_gives_such_a_teacher_its_own_view(tmp_path):
    """The toy Swin PKD pair with the student in BGR and other values: the
    distiller builds (no refusal), the teacher's recorded FPN levels are
    those of the teacher run on its own preprocessor's batch, and a
    training step's losses are finite."""
    cfg = load(SWIN_PKD).model
    cfg.student.data_preprocessor = STUDENT_PRE
    torch.manual_seed(0)
    teacher = _build(load(SWIN_T).model)
    path = str(tmp_path / 'teacher.pth')
    torch.save({'state_dict': teacher.state_dict()}, path)
    cfg.teacher.checkpoint = path
    model = _build(cfg)
    assert 're-normalised' in model.teacher_view.describe()
    data = model.data_preprocessor(_raw_batch(), True)
    got = model.teacher_outputs(data['inputs'], data['data_samples'])['neck']
    own = teacher.data_preprocessor(_raw_batch(), True)
    teacher.eval()
    with torch.no_grad():
        want = teacher.extract_feat(own['inputs'])
    for g, w in zip(got[0], want):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-4)
    model.train()
    losses = model.loss(data['inputs'], data['data_samples'])
    assert torch.isfinite(losses['distill.neck.loss'])


def test_a_stated_input_size_resizes_the_teachers_batch():
    """``input_size``: the (re-normalised) batch resized bilinearly to the
    teacher's size, said in the log; a bad size is refused."""
    student_pre = _build(STUDENT_PRE)
    teacher_pre = _build(load(SWIN_T).model.data_preprocessor)
    s = student_pre(_raw_batch(), False)
    view = TeacherView.between(student_pre, teacher_pre, input_size=(48, 40))
    renormalised = TeacherView.between(student_pre,
                                       teacher_pre)(s['inputs'],
                                                    s['data_samples'])
    got = view(s['inputs'], s['data_samples'])
    want = torch.nn.functional.interpolate(renormalised, size=(48, 40),
                                           mode='bilinear',
                                           align_corners=False)
    assert got.shape == (2, 3, 48, 40)
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    assert 're-normalised' in view.describe()
    assert 'resized to 48 x 40' in view.describe()
    same = TeacherView.between(student_pre, student_pre, input_size=(48, 40))
    assert not same.identity and same(s['inputs']).shape[2:] == (48, 40)
    for bad in ((48, ), (0, 40), 48, (48.5, 40)):
        with pytest.raises(ValueError, match='input_size=.*e.g. input_size'):
            TeacherView.between(student_pre, teacher_pre, input_size=bad)


def test_the_teacher_spec_states_its_input_size(tmp_path):
    """``teacher=dict(..., input_size=(H, W))``: the teacher runs on the
    resized batch, its features come out at its size."""
    cfg = load(SWIN_PKD).model
    torch.manual_seed(0)
    path = str(tmp_path / 'teacher.pth')
    torch.save({'state_dict': _build(load(SWIN_T).model).state_dict()}, path)
    cfg.teacher.checkpoint = path
    cfg.teacher.input_size = (32, 32)
    model = _build(cfg)
    seen = []
    model.teacher.backbone.register_forward_pre_hook(
        lambda module, args: seen.append(tuple(args[0].shape)))
    data = model.data_preprocessor(_raw_batch(), True)
    assert tuple(data['inputs'].shape[2:]) == (64, 96)
    out = model.teacher_outputs(data['inputs'], data['data_samples'])
    assert seen == [(2, 3, 32, 32)]
    assert tuple(out['neck'][0][0].shape[2:]) == (8, 8)  # stride 4


def test_predict_samples_follow_a_stated_input_size():
    """The teacher's predict mode (the teacher check) reads the samples'
    geometry: with the batch resized from 64 x 96 to 128 x 144 every size
    scales with it (x 2 in height, x 1.5 in width) and maps back to the
    original image; the student's samples are not touched."""
    from mmdet.structures import DetDataSample

    from mmkd.models.teacher.teacher_view import Normalisation
    norm = Normalisation(None, None, False, 0.0)
    view = TeacherView(norm, norm, input_size=(128, 144))
    sample = DetDataSample(
        metainfo=dict(
            img_shape=(60, 90), pad_shape=(64, 96), batch_input_shape=(
                64, 96), scale_factor=(0.5, 0.5), ori_shape=(120, 180)))
    inputs = torch.zeros(1, 3, 64, 96)
    scaled, = view.samples_for([sample], inputs)
    assert scaled.img_shape == (120, 135)
    assert scaled.pad_shape == scaled.batch_input_shape == (128, 144)
    assert scaled.scale_factor == (0.75, 1.0)  # (w, h)
    assert scaled.ori_shape == (120, 180)
    # a box over the whole image in the teacher's input maps onto the
    # whole original image
    w, h = scaled.img_shape[1], scaled.img_shape[0]
    assert (w / scaled.scale_factor[0], h / scaled.scale_factor[1]) == \
        (180, 120)
    assert sample.img_shape == (60, 90)
    # without input_size, or at the batch's own size: the same samples
    same = TeacherView(norm, norm, input_size=(64, 96))
    assert same.samples_for([sample], inputs)[0] is sample
    assert TeacherView(norm, norm).samples_for([sample], inputs)[0] is sample
