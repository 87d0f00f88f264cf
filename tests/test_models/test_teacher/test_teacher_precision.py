# Copyright (c) mmkd contributors. All rights reserved.
"""``teacher_exec.precision`` under ``--amp``: through a real Runner with
mmengine's AmpOptimWrapper (mmkd's CPU variant, bf16 autocast), a
``'fp32'`` teacher computes in float32, the run-following ``'auto'`` in
bfloat16, and the losses receive float32 either way."""
import pytest
import torch
from dense_utils import load, shrink_det_cfg

from mmkd.apis import build_runner, prepare_train_cfg
from mmkd.engine.optimizers import CPUAmpOptimWrapper

PKD = 'configs/pkd/pkd_fpn_retinanet_r18-w64_r18-w32_toy-shapes.py'


@pytest.fixture
def teacher_ckpt(retina_teacher_ckpt):
    return retina_teacher_ckpt  # conftest's untrained toy teacher


def _amp_run(teacher_ckpt, data_root, work_dir, precision=None, amp=True):
    cfg = load(PKD)
    cfg.model.teacher.checkpoint = teacher_ckpt
    if precision is not None:
        cfg.model.teacher_exec = dict(precision=precision)
    # 128 px: on a 64 px image the last FPN level is 1 x 1, where torch's
    # CPU bf16 convolution gave NaN weight gradients (torch 2.13)
    cfg = shrink_det_cfg(cfg, data_root, str(work_dir), batch_size=4,
                         img_scale=(128, 128))
    runner = build_runner(
        prepare_train_cfg(cfg, work_dir=str(work_dir), amp=amp))
    model = runner.model
    seen = dict(teacher=[], student=[], loss=[])
    # a teacher module inside the backbone, one of the neck's outputs of the
    # student, and the loss's inputs
    model.teacher.backbone.layer2.register_forward_hook(
        lambda m, a, out: seen['teacher'].append(out.dtype))

    def student_hook(module, args, out):
        # the training steps only: the pre-flight check and validation run
        # without gradients
        if torch.is_grad_enabled():
            seen['student'].append(out.dtype)

    model.student.neck.fpn_convs[0].register_forward_hook(student_hook)
    model.distill_entries[0].losses[0].register_forward_pre_hook(
        lambda m, args: seen['loss'].append((args[0].dtype, args[1].dtype)))
    runner.train()
    assert runner.iter == 2
    return runner, seen


@pytest.mark.parametrize(
    'precision,teacher_dtype',
    [
        ('fp32', torch.float32),
        (None, torch.bfloat16),  # the default, 'auto': the run's autocast
        ('auto', torch.bfloat16),
    ])
def test_teacher_precision_under_cpu_amp(teacher_ckpt, coco_shapes_root,
                                         tmp_path, precision, teacher_dtype):
    runner, seen = _amp_run(teacher_ckpt, coco_shapes_root, tmp_path,
                            precision)
    assert isinstance(runner.optim_wrapper, CPUAmpOptimWrapper)
    assert runner.optim_wrapper.cast_dtype == torch.bfloat16
    # the pre-flight check runs outside the autocast, training inside it
    train = seen['teacher'][-2:]
    assert train == [teacher_dtype] * 2
    assert seen['student'] == [torch.bfloat16] * 2  # the run is amp
    assert seen['loss'] and set(
        seen['loss']) == {(torch.float32, torch.float32)}
    assert all(
        torch.isfinite(p).all() for p in runner.model.student.parameters())


def test_fp32_run_keeps_everything_fp32(teacher_ckpt, coco_shapes_root,
                                        tmp_path):
    runner, seen = _amp_run(teacher_ckpt, coco_shapes_root, tmp_path,
                            amp=False)
    assert type(runner.optim_wrapper).__name__ == 'OptimWrapper'
    assert set(seen['teacher']) == set(seen['student']) == {torch.float32}
    assert set(seen['loss']) == {(torch.float32, torch.float32)}


def test_cpu_amp_wrapper_refuses_fp16():
    model = torch.nn.Linear(2, 2)
    optim = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match='bfloat16 only'):
        CPUAmpOptimWrapper(optimizer=optim, dtype='float16')
