# Copyright (c) mmkd contributors. All rights reserved.
"""On a CUDA GPU: the toy AKD/PKD pairs train with and without ``--amp``,
resume, the teacher's execution options match the plain fp32 teacher within
stated tolerances (cuDNN's TF32 included), the layout boundaries hold, and
the fp16 loss scaler skips a non-finite step.

Every test is marked ``cuda``: skipped (and listed at the end of the run)
without a GPU; ``make gpu-check`` runs them. ``MMKD_CUDA_TESTS_ON_CPU=1``
runs them on the CPU instead (``--amp`` is then bf16 and the fp16-only
tests skip), to check the tests themselves on a machine without a GPU.
"""
import os

import pytest
import torch
from dense_utils import config_path, load, save_untrained, shrink_det_cfg
from mmengine.hooks import Hook
from mmengine.registry import DefaultScope

from mmkd.apis import build_runner, prepare_train_cfg
from mmkd.registry import MODELS

# cuBLAS needs it for deterministic runs, should a test ask for one
os.environ.setdefault('CUBLAS_WORKSPACE_CONFIG', ':4096:8')
pytestmark = pytest.mark.cuda
ON_CPU = os.environ.get('MMKD_CUDA_TESTS_ON_CPU') == '1'
DEVICE = 'cpu' if ON_CPU else 'cuda'
HALF = torch.bfloat16 if ON_CPU else torch.float16  # what --amp casts to
PKD = 'configs/pkd/pkd_fpn_retinanet_r18-w64_r18-w32_toy-shapes.py'
AKD = 'configs/akd/akd-pkd_fpn_retinanet_r18-w64_r18-w32_toy-shapes.py'
RETINA_S = 'configs/toy/retinanet_r18-w32_shapes-coco.py'
RETINA_T = 'configs/toy/retinanet_r18-w64_shapes-coco.py'
FRCNN_S = 'configs/toy/faster-rcnn_r18-w32_shapes-coco.py'
fp16_only = pytest.mark.skipif(ON_CPU, reason='fp16 loss scaling: CUDA only')


@pytest.fixture(autouse=True)
def nondeterministic_allowed():
    """mmengine's ``deterministic=True`` (other tests' configs) switches on
    ``torch.use_deterministic_algorithms`` for the process, which refuses
    CUDA ops without a deterministic kernel (the FPN's upsampling
    backward); these tests run without it."""
    was = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(False)
    yield
    torch.use_deterministic_algorithms(was)


@pytest.fixture(scope='module')
def teacher_ckpt(tmp_path_factory):
    return save_untrained(RETINA_T,
                          tmp_path_factory.mktemp('teacher') / 'teacher.pth',
                          init=True)


def _runner(config, teacher_ckpt, data_root, work_dir, amp=False, max_epochs=2,
            resume=None, **teacher_exec):
    cfg = load(config)
    cfg.model.teacher.checkpoint = teacher_ckpt
    if teacher_exec:
        cfg.model.teacher_exec = teacher_exec
    # 128 px: a 1 x 1 last FPN level gave NaN bf16 weight gradients on the
    # CPU (torch 2.13)
    cfg = shrink_det_cfg(cfg, data_root, str(work_dir), max_epochs=max_epochs,
                         batch_size=4, img_scale=(128, 128))
    cfg.randomness = dict(seed=0, deterministic=False)
    cfg.train_cfg.val_interval = 100  # no validation
    return build_runner(
        prepare_train_cfg(cfg, work_dir=str(work_dir), amp=amp, resume=resume))


def _record_dtypes(model):
    seen = dict(teacher=[], loss=[])
    # inside the neck: the teacher's forward stops right after the neck
    model.teacher.neck.fpn_convs[0].register_forward_hook(
        lambda m, a, out: seen['teacher'].append(out.dtype))
    model.distill_entries[0].losses[0].register_forward_pre_hook(
        lambda m, args: seen['loss'].append((args[0].dtype, args[1].dtype)))
    return seen


@pytest.mark.parametrize('config', [PKD, AKD], ids=['pkd', 'akd'])
@pytest.mark.parametrize('amp', [False, True], ids=['fp32', 'amp'])
def test_toy_pair_trains_on_the_device(teacher_ckpt, coco_shapes_root,
                                       tmp_path, config, amp):
    runner = _runner(config, teacher_ckpt, coco_shapes_root, tmp_path, amp)
    seen = _record_dtypes(runner.model)
    runner.train()
    model = runner.model
    assert runner.iter == 4
    assert next(model.student.parameters()).device.type == DEVICE
    assert next(model.teacher.parameters()).device.type == DEVICE
    assert all(torch.isfinite(p).all() for p in model.parameters())
    loss = runner.message_hub.get_scalar('train/distill.neck.loss')
    assert torch.isfinite(torch.tensor(loss.current()))
    # the default precision follows the run; the losses get fp32
    assert seen['teacher'][-1] == (HALF if amp else torch.float32)
    assert set(seen['loss']) == {(torch.float32, torch.float32)}
    if amp:
        assert type(
            runner.optim_wrapper).__name__ == ('CPUAmpOptimWrapper' if ON_CPU
                                               else 'AmpOptimWrapper')


def test_fp32_teacher_under_amp(teacher_ckpt, coco_shapes_root, tmp_path):
    runner = _runner(PKD, teacher_ckpt, coco_shapes_root, tmp_path, amp=True,
                     max_epochs=1, precision='fp32')
    seen = _record_dtypes(runner.model)
    runner.train()
    assert set(seen['teacher']) == {torch.float32}


@pytest.mark.parametrize('amp', [False, True], ids=['fp32', 'amp'])
def test_resume_continues_the_run(teacher_ckpt, coco_shapes_root, tmp_path,
                                  amp):
    """Resuming from epoch 1 ends near the uninterrupted run's weights (GPU
    kernels with atomic adds are not bitwise reproducible)."""
    whole = _runner(AKD, teacher_ckpt, coco_shapes_root, tmp_path / 'a', amp)
    whole.train()
    first = _runner(AKD, teacher_ckpt, coco_shapes_root, tmp_path / 'b', amp,
                    max_epochs=1)
    first.train()
    resumed = _runner(AKD, teacher_ckpt, coco_shapes_root, tmp_path / 'b', amp,
                      resume='auto')
    resumed.train()
    assert resumed.iter == whole.iter == 4
    want = whole.model.student.state_dict()
    for key, value in resumed.model.student.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(value, want[key], rtol=1e-3, atol=1e-4,
                                       msg=key)


# ---------------------------------------------------- teacher options
PLAIN = dict(memory_format='contiguous', fold_batchnorm=False, prepack=False,
             precision='fp32')
# relative error (Frobenius) of the FPN levels against the plain fp32
# teacher: (options, TF32 off, TF32 on (cuDNN's default on Ampere and
# later: 10-bit mantissa inputs))
OPTION_TOLERANCE = [
    (dict(), 1e-5, 5e-3),  # channels-last, BatchNorms folded
    (dict(memory_format='channels_last', fold_batchnorm=False), 1e-5, 5e-3),
    (dict(PLAIN, fold_batchnorm=True), 1e-5, 5e-3),
    (dict(precision='fp16'), 3e-3, 5e-3),
    (dict(precision='bf16'), 3e-2, 3e-2),
]


@pytest.mark.parametrize('tf32', [False, True], ids=['tf32-off', 'tf32-on'])
@pytest.mark.parametrize(
    'options,off,on', OPTION_TOLERANCE,
    ids=['default', 'channels-last', 'folded', 'fp16', 'bf16'])
def test_teacher_options_match_the_plain_fp32_teacher(teacher_ckpt, options,
                                                      off, on, tf32):
    if ON_CPU and options.get('precision') == 'fp16':
        pytest.skip('fp16 autocast on the CPU is not what this checks')
    flags = (torch.backends.cudnn.allow_tf32,
             torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = tf32
    try:
        torch.manual_seed(0)
        inputs = torch.randn(2, 3, 128, 128, device=DEVICE)
        want = _neck(teacher_ckpt, inputs, **PLAIN)
        with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
            exact = _neck(teacher_ckpt, inputs, **PLAIN)
        got = _neck(teacher_ckpt, inputs, **options)
    finally:
        torch.backends.cudnn.allow_tf32, \
            torch.backends.cuda.matmul.allow_tf32 = flags
    tolerance = on if tf32 else off
    for g, w, e in zip(got, want, exact):
        assert g.dtype == torch.float32 and g.is_contiguous()
        assert ((g - w).norm() / w.norm()).item() <= tolerance
        # the TF32 plain teacher itself against the exact one (TF32 off:
        # the same computation)
        assert ((w - e).norm() / e.norm()).item() <= (on if tf32 else 1e-6)


def _neck(teacher_ckpt, inputs, **teacher_exec):
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(
            dict(
                type='mmkd.SingleTeacherDistiller',
                student=load(RETINA_S).model, teacher=dict(
                    config=config_path(RETINA_T), checkpoint=teacher_ckpt),
                teacher_exec=teacher_exec, distill=dict(
                    neck=dict(student='neck', teacher='neck', loss=dict(
                        type='mmkd.PKDLoss')))))
    model.to(inputs.device).eval()
    return model.teacher_outputs(inputs, None)['neck'][0]


def _without_boundaries(monkeypatch):
    monkeypatch.setattr('mmkd.models.teacher.teacher_execution.plan_layout',
                        lambda model, relayed=(): {})


def _loss(model, batch, key: str) -> float:
    data = model.data_preprocessor(batch, True)
    return model.loss(data['inputs'], data['data_samples'])[key].item()


@pytest.mark.parametrize('plan', [True, False], ids=['plan', 'no-boundaries'])
def test_roi_entry_boundary_on_the_device(tmp_path, coco_shapes_root,
                                          monkeypatch, plan):
    """The teacher's RoIAlign, fed from the student, reads contiguous maps
    on the device too: the teacher is channels-last, the relayed RoI
    extractor a boundary, and identical networks give (close to) zero loss.
    The control: the same teacher with the boundaries removed gives another
    loss, until the pre-flight check keeps its RoIAlign layers NCHW."""
    from test_models.test_teacher.test_teacher_layout import (BOX_FEAT,
                                                              _batches,
                                                              _roi_entry,
                                                              _saved, _twin)
    if not plan:
        _without_boundaries(monkeypatch)
    cfg = load(FRCNN_S)
    ckpt, state = _saved(cfg.model, tmp_path / 'w.pth')
    model = _twin(cfg.model, state, ckpt, _roi_entry()).to(DEVICE)
    execution = model.teacher_exec
    assert execution.channels_last
    assert model.teacher.backbone.conv1.weight.is_contiguous(
        memory_format=torch.channels_last)
    assert ('roi_head.bbox_roi_extractor' in execution.boundaries) == plan
    batch = _batches(load(FRCNN_S), coco_shapes_root, tmp_path, 1)[0]
    key = f'distill.{BOX_FEAT}.loss'
    if not plan:
        assert _loss(model, batch, key) > 1e-3
        found = model.check_teacher_layout(batch)
        assert found and all('.roi_layers.' in p for p in found)
        model.keep_teacher_nchw(found)
    assert abs(_loss(model, batch, key)) < 1e-8


@pytest.mark.parametrize('plan', [True, False], ids=['plan', 'no-boundaries'])
def test_dcn_teacher_on_the_device(tmp_path, coco_shapes_root, monkeypatch,
                                   plan):
    """A teacher with deformable convolutions (mmcv's DeformConv2dPack) on
    the device: channels-last except its DCN modules, which are
    boundaries, and identical networks give (close to) zero loss. The
    control: with the boundaries removed the DCN modules refuse the
    channels-last tensors, until the pre-flight check keeps them NCHW."""
    from test_models.test_teacher.test_teacher_layout import (_batches,
                                                              _dcn_retina_cfg,
                                                              _saved, _twin)
    if not plan:
        _without_boundaries(monkeypatch)
    model_cfg = _dcn_retina_cfg()
    ckpt, state = _saved(model_cfg, tmp_path / 'w.pth')
    entries = dict(
        neck=dict(student='neck', teacher='neck', loss=dict(
            type='mmkd.FeatureMSELoss')))
    model = _twin(model_cfg, state, ckpt, entries).to(DEVICE)
    execution = model.teacher_exec
    dcn = [
        p for p, m in model.teacher.named_modules()
        if type(m).__name__ == 'DeformConv2dPack'
    ]
    assert execution.channels_last and len(dcn) == 4
    assert model.teacher.backbone.layer1[0].conv2.weight.is_contiguous(
        memory_format=torch.channels_last)
    assert (set(execution.boundaries) == set(dcn)) == plan
    batch = _batches(load(RETINA_S), coco_shapes_root, tmp_path, 1)[0]
    if not plan:
        with pytest.raises(RuntimeError, match='contiguous'):
            _loss(model, batch, 'distill.neck.loss')
        found = model.check_teacher_layout(batch)
        assert set(found) == set(dcn)
        model.keep_teacher_nchw(found)
    assert model.teacher.backbone.layer2[0].conv2.weight.is_contiguous()
    assert abs(_loss(model, batch, 'distill.neck.loss')) < 1e-8


# ------------------------------------------------------ non-finite fp16
class _NaNTeacherAt:
    """A teacher neck hook that makes its output NaN at the given training
    iterations (the loss is then NaN, the gradients too)."""

    def __init__(self, runner, iterations):
        self.runner, self.iterations = runner, set(iterations)

    def __call__(self, module, args, out):
        if self.runner.iter in self.iterations and \
                self.runner.model.training:
            return tuple(torch.full_like(o, float('nan')) for o in out)
        return None


class _Watch(Hook):
    """Keeps the loss scale after each iteration and the student's weights
    before and after iteration ``at``."""
    priority = 'LOWEST'

    def __init__(self, at: int) -> None:
        self.at, self.scales, self.weights = at, [], {}

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter == self.at:
            self.weights['before'] = _student_weights(runner)

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.scales.append(runner.optim_wrapper.loss_scaler.get_scale())
        if runner.iter == self.at:
            self.weights['after'] = _student_weights(runner)


def _student_weights(runner):
    return {
        k: v.detach().clone()
        for k, v in runner.model.student.named_parameters()
    }


@fp16_only
def test_fp16_scaler_skips_a_non_finite_step(teacher_ckpt, coco_shapes_root,
                                             tmp_path):
    runner = _runner(PKD, teacher_ckpt, coco_shapes_root, tmp_path, amp=True,
                     max_epochs=2)
    # before the recorder's hook (which ends the teacher's forward)
    runner.model.teacher.neck.register_forward_hook(
        _NaNTeacherAt(runner, [1]), prepend=True)
    watch = _Watch(at=1)
    runner.register_hook(watch)
    runner.train()  # the one bad step is skipped, training goes on
    assert runner.iter == 4
    # skipped by the scaler, its scale kept (NonFiniteLossHook puts it back)
    assert watch.scales[1] == watch.scales[0]
    for name, value in watch.weights['before'].items():  # nothing moved
        assert torch.equal(watch.weights['after'][name], value), name
    assert all(
        torch.isfinite(p).all() for p in runner.model.student.parameters())


@fp16_only
def test_fp16_persistent_non_finite_loss_stops(teacher_ckpt, coco_shapes_root,
                                               tmp_path):
    runner = _runner(PKD, teacher_ckpt, coco_shapes_root, tmp_path, amp=True,
                     max_epochs=3)
    runner.model.teacher.neck.register_forward_hook(
        _NaNTeacherAt(runner, range(100)), prepend=True)
    hook = [
        h for h in runner.hooks if type(h).__name__ == 'NonFiniteLossHook'
    ][0]
    hook.max_skips = 3
    watch = _Watch(at=-1)
    runner.register_hook(watch)
    with pytest.raises(
            FloatingPointError, match='3 of the last 100 iterations had a '
            'non-finite forward loss, each skipped by the fp16 loss scaler'):
        runner.train()
    assert runner.iter == 2  # stopped in the third iteration
    assert watch.scales[0] == watch.scales[1]  # the scale kept
