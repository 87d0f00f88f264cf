# Copyright (c) mmkd contributors. All rights reserved.
"""A floating tensor relayed from the student (``teacher_input_from_student``)
reaches the teacher in the teacher's compute dtype: under ``--amp`` the
student computes it in half precision, and a teacher run in fp32 (autocast
off, ``teacher_exec`` precision ``'fp32'``) must get it in fp32; a teacher
run in the autocast gets it as the student made it."""
import pytest
import torch
import torch.nn as nn
from dense_utils import load, save_untrained, shrink_det_cfg

from mmkd.apis import build_runner, prepare_train_cfg
from mmkd.models.recording import StudentInputRelay

STUDENT = 'configs/toy/retinanet_r18-w32_shapes-coco.py'
PKD = 'configs/pkd/pkd_fpn_retinanet_r18-w64_r18-w32_toy-shapes.py'
BF16 = dict(device_type='cpu', dtype=torch.bfloat16)


def _mlp():
    return nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))


def _teacher_inputs(module):
    seen = []
    module.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    return seen


def test_half_tensor_reaches_an_fp32_teacher_in_fp32():
    """The student's hidden layer under bf16 autocast is bfloat16; the
    teacher's second Linear, run with autocast off, gets it as float32
    (before: 'mat1 and mat2 must have the same dtype')."""
    torch.manual_seed(0)
    student, teacher = _mlp(), _mlp()
    relay = StudentInputRelay(student, teacher, {'2': 0})
    s_seen, t_seen = _teacher_inputs(student[2]), _teacher_inputs(teacher[2])
    x = torch.randn(5, 4)
    with torch.autocast(**BF16), relay.recording(x):
        student(x)
    assert s_seen[0].dtype == torch.bfloat16
    with torch.autocast(**BF16), relay.feeding(x), \
            torch.autocast('cpu', enabled=False), torch.no_grad():
        out = teacher(x)
    assert t_seen[0].dtype == torch.float32
    expected = teacher[2](s_seen[0].detach().float())
    torch.testing.assert_close(out, expected, rtol=0, atol=0)


def test_under_autocast_the_relayed_tensor_is_passed_as_made():
    torch.manual_seed(0)
    student, teacher = _mlp(), _mlp()
    relay = StudentInputRelay(student, teacher, {'2': 0})
    t_seen = _teacher_inputs(teacher[2])
    x = torch.randn(5, 4)
    with torch.autocast(**BF16), relay.recording(x):
        student(x)
    with torch.autocast(**BF16), relay.feeding(x), torch.no_grad():
        out = teacher(x)
    assert t_seen[0].dtype == torch.bfloat16 and out.dtype == torch.bfloat16


@pytest.fixture(scope='module')
def same_arch_teacher(tmp_path_factory):
    """A toy RetinaNet R18-w32 teacher of the R18-w32 student (same
    architecture, so its neck takes the student's backbone features)."""
    return save_untrained(STUDENT,
                          tmp_path_factory.mktemp('relay') / 'teacher.pth')


def test_amp_run_relaying_the_students_backbone_features_to_fp32_teacher(
        same_arch_teacher, coco_shapes_root, tmp_path):
    """Through a real Runner with --amp (mmkd's CPU AmpOptimWrapper, bf16):
    the teacher's FPN runs on the student's backbone features (a tuple of
    bfloat16 maps). With precision 'fp32' it gets them in float32 and its
    outputs are its fp32 FPN on them (before: the fp32 convolution refused
    the bfloat16 input and the run stopped)."""
    cfg = load(PKD)
    cfg.model.teacher = dict(config=STUDENT, checkpoint=same_arch_teacher)
    cfg.model.teacher_exec = dict(precision='fp32')
    cfg.model.distill = dict(
        neck=dict(student='neck', teacher='neck', num_levels=5,
                  teacher_input_from_student=dict(module='neck', arg=0),
                  loss=dict(type='mmkd.PKDLoss', loss_weight=1)))
    cfg = shrink_det_cfg(cfg, coco_shapes_root, str(tmp_path), batch_size=4,
                         img_scale=(128, 128))
    runner = build_runner(
        prepare_train_cfg(cfg, work_dir=str(tmp_path), amp=True))
    model = runner.model
    seen, student_feats = [], []

    def teacher_hook(module, args, out):
        seen.append((args[0], out))

    def student_hook(module, args, out):
        if module.training:
            student_feats.append(args[0])

    # before the recorder's hook, which ends the teacher's pass early
    model.teacher.neck.register_forward_hook(teacher_hook, prepend=True)
    model.student.neck.register_forward_hook(student_hook)
    runner.train()
    assert runner.iter == 2
    # the two training iterations (the pre-flight check runs first,
    # outside the autocast; validation runs the student alone, in eval)
    seen, student_feats = seen[-2:], student_feats[-2:]
    for (feats, outs), s_feats in zip(seen, student_feats):
        assert {f.dtype for f in s_feats} == {torch.bfloat16}
        assert {f.dtype for f in feats} == {torch.float32}
        assert {o.dtype for o in outs} == {torch.float32}
        for got, made in zip(feats, s_feats):  # the student's, cast
            torch.testing.assert_close(got, made.float(), rtol=0, atol=0)
    feats, outs = seen[-1]  # its fp32 FPN on the fp32 features
    with torch.no_grad(), torch.autocast('cpu', enabled=False):
        again = model.teacher.neck(tuple(f.clone() for f in feats))
    for got, ref in zip(outs, again):
        torch.testing.assert_close(got, ref, rtol=0, atol=0)
