# Copyright (c) mmkd contributors. All rights reserved.
"""Layout safety without reading code: a teacher whose ``forward`` reaches
mmcv's RoIAlign kernel (which reads channels-last memory as NCHW) in any of
the ways of ``tests/layout_escapes.py`` gives its NCHW self's features
under the default options, by the static plan or by the pre-flight check
of :class:`~mmkd.engine.hooks.DistillCheckHook`.

As in ``test_teacher_layout.py``, the student is the independent reference:
the same weights, computing as the default teacher does, with the NCHW
handling of the escaping neck written out here by hand. Float rounding then
matches bit for bit, so the distillation loss is exactly 0 when the
teacher's neck is kept NCHW and not otherwise.
"""
import copy
import logging

import pytest
import torch
import torch.nn as nn
from dense_utils import load, mirror_default_teacher, shrink_det_cfg
from layout_escapes import NECKS, align_whole_map
from test_teacher_layout import (FRCNN_S, RETINA_S, _batches, _dcn_retina_cfg,
                                 _losses_over_steps, _roi_entry, _saved, _twin,
                                 _twin_weights)

from mmkd.apis import build_runner, prepare_train_cfg
from mmkd.engine.hooks import DistillCheckHook
from mmkd.models.teacher.teacher_execution import TeacherExecution
from mmkd.models.teacher.teacher_layout_check import (LAYOUT_TOLERANCE,
                                                      tensor_difference)

STATIC = ['helper', 'decorated', 'attribute', 'function', 'torch_ops']
CHECK_REASON = "differed from the NCHW teacher's"
NECK_ENTRY = dict(
    neck=dict(student='neck', teacher='neck', loss=dict(
        type='mmkd.FeatureMSELoss')))


class _Warnings(logging.Handler):
    """The warnings a logger emits."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record) -> None:
        self.messages.append(record.getMessage())


def _contiguous(value):
    """``value`` with its tensors contiguous (an FPN takes a tuple)."""
    if isinstance(value, (tuple, list)):
        return type(value)(_contiguous(v) for v in value)
    return value.contiguous() if isinstance(value, torch.Tensor) else value


def _contiguous_args(module, args):
    return _contiguous(args)


def _nchw_by_hand(module: nn.Module) -> None:
    """The student's side of a boundary: NCHW weights (explicit strides),
    contiguous inputs."""
    for sub in module.modules():
        for tensor in list(sub.parameters(False)) + list(sub.buffers(False)):
            if tensor.dim() == 4:
                tensor.data = tensor.data.clone(
                    memory_format=torch.contiguous_format)
    module.register_forward_pre_hook(_contiguous_args)


def _neck_cfg(way):
    model_cfg = load(RETINA_S).model
    model_cfg.neck.type = NECKS[way]
    return model_cfg


@pytest.fixture(scope='module')
def escape_weights(tmp_path_factory):
    """``(checkpoint, state dict)`` of the toy RetinaNet, shared by every
    neck of layout_escapes.py (an FPN's weights)."""
    return _saved(
        load(RETINA_S).model,
        tmp_path_factory.mktemp('escape') / 'weights.pth')


@pytest.fixture(scope='module')
def escape_batches(coco_shapes_root, tmp_path_factory):
    return _batches(
        load(RETINA_S), coco_shapes_root, tmp_path_factory.mktemp('batches'),
        2)


def _escape_twin(way, escape_weights):
    """The twin pair with the escaping neck ``way``: the student mirrors the
    default teacher, its neck kept NCHW by hand."""
    ckpt, state = escape_weights
    model = _twin(_neck_cfg(way), state, ckpt, NECK_ENTRY)
    _nchw_by_hand(model.student.neck)
    return model


def _neck_loss(model, batch) -> float:
    data = model.data_preprocessor(batch, True)
    losses = model.loss(data['inputs'], data['data_samples'])
    return losses['distill.neck.loss'].item()


@pytest.mark.parametrize('way', STATIC)
def test_plan_keeps_each_escaping_neck_nchw(way, escape_weights,
                                            escape_batches):
    """The default options: the static plan keeps the neck NCHW, the rest
    of the teacher is channels-last, the pre-flight check finds nothing
    more, and the features are the NCHW neck's."""
    model = _escape_twin(way, escape_weights)
    execution = model.teacher_exec
    assert execution.channels_last
    assert list(execution.boundaries) == ['neck']
    assert 'its forward calls' in execution.boundaries['neck']
    conv = model.teacher.backbone.layer1[0].conv1
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    model.check_distill_batch(escape_batches[0])
    assert model.check_teacher_layout(escape_batches[0]) == {}
    for step, values in enumerate(_losses_over_steps(model, escape_batches)):
        assert values == {'distill.neck.loss': 0.0}, step


@pytest.mark.parametrize('way', STATIC)
def test_pre_flight_check_alone_finds_each_escape(way, escape_weights,
                                                  escape_batches, monkeypatch):
    """With the static plan switched off, the escape gives other features
    (the control), and the pre-flight check alone keeps the neck NCHW."""
    monkeypatch.setattr('mmkd.models.teacher.teacher_execution.plan_layout',
                        lambda model, relayed=(): {})
    model = _escape_twin(way, escape_weights)
    assert model.teacher_exec.boundaries == {}
    batch = escape_batches[0]
    assert _neck_loss(model, batch) > 1e-3
    found = model.check_teacher_layout(batch)
    assert list(found) == ['neck'] and CHECK_REASON in found['neck']
    model.keep_teacher_nchw(found)
    assert model.teacher_exec.boundaries == found
    assert _neck_loss(model, batch) == 0.0


def test_pre_flight_hook_keeps_a_helper_function_neck_nchw(
        escape_weights, coco_shapes_root, tmp_path):
    """Through the Runner: a neck reaching RoIAlign through a module-level
    helper function, which the plan does not follow; the Runner's
    DistillCheckHook keeps it NCHW before the first iteration, says so in
    one warning naming it, and the features are the NCHW neck's."""
    ckpt, state = escape_weights
    model_cfg = _neck_cfg('global')
    cfg = load(RETINA_S)
    cfg.model = dict(
        type='mmkd.SingleTeacherDistiller', student=copy.deepcopy(model_cfg),
        teacher=dict(
            model=copy.deepcopy(model_cfg), checkpoint=ckpt,
            default_scope='mmdet'), distill=NECK_ENTRY)
    cfg = shrink_det_cfg(cfg, coco_shapes_root, str(tmp_path), batch_size=2)
    runner = build_runner(prepare_train_cfg(cfg, work_dir=str(tmp_path)))
    model = runner.model
    model.student.load_state_dict(state)
    model.eval()
    mirror_default_teacher(model.student)
    _nchw_by_hand(model.student.neck)
    assert model.teacher_exec.boundaries == {}  # the plan misses it
    warnings = _Warnings()
    runner.logger.addHandler(warnings)
    hook, = [h for h in runner.hooks if isinstance(h, DistillCheckHook)]
    hook.before_train(runner)
    assert list(model.teacher_exec.boundaries) == ['neck']
    found = [m for m in warnings.messages if 'pre-flight' in m]
    assert len(found) == 1 and 'neck: its output' in found[0]
    batches = [b for _, b in zip(range(2), runner.train_dataloader)]
    for step, values in enumerate(_losses_over_steps(model, batches)):
        assert values == {'distill.neck.loss': 0.0}, step


def test_pre_flight_check_keeps_an_op_that_raises_nchw(escape_batches,
                                                       tmp_path_factory,
                                                       monkeypatch):
    """mmcv's DeformConv2d refuses channels-last tensors: with the plan
    off the teacher raises (the control), and the check blames the
    deformable convolution it was raised in, keeps every one of them NCHW,
    and the features are the NCHW teacher's."""
    monkeypatch.setattr('mmkd.models.teacher.teacher_execution.plan_layout',
                        lambda model, relayed=(): {})
    model_cfg, ckpt, state = _twin_weights(_dcn_retina_cfg(), tmp_path_factory)
    model = _twin(model_cfg, state, ckpt, NECK_ENTRY)
    batch = escape_batches[0]
    with pytest.raises(RuntimeError, match='contiguous'):
        _neck_loss(model, batch)
    found = model.check_teacher_layout(batch)
    dcn = [
        p for p, m in model.teacher.named_modules()
        if type(m).__name__ == 'DeformConv2dPack'
    ]
    assert len(dcn) == 4 and set(found) == set(dcn)
    assert 'it raised on the tensors of the channels-last teacher' in \
        found[next(iter(found))]
    model.keep_teacher_nchw(found)
    assert _neck_loss(model, batch) == 0.0


def test_pre_flight_check_passes_on_the_roi_entry(coco_shapes_root,
                                                  tmp_path_factory):
    """The RoI entry (teacher fed the student's sampled RoIs, drawn at
    random): both runs of the check get the same RoIs, the plan holds, and
    nothing is added."""
    tmp_path = tmp_path_factory.mktemp('roi')
    model_cfg = load(FRCNN_S).model
    ckpt, state = _saved(model_cfg, tmp_path / 'weights.pth')
    model = _twin(model_cfg, state, ckpt, _roi_entry())
    plan = dict(model.teacher_exec.boundaries)
    batch = _batches(load(FRCNN_S), coco_shapes_root, tmp_path, 1)[0]
    model.check_distill_batch(batch)
    assert model.check_teacher_layout(batch) == {}
    assert model.teacher_exec.boundaries == plan


class _Pair(nn.Module):
    """Two convolutions; with ``escape`` the first one's output passes
    through mmcv's RoIAlign (a module-level helper) in this module's own
    code before the second one gets it."""

    def __init__(self, escape: bool) -> None:
        super().__init__()
        self.escape = escape
        self.conv1 = nn.Conv2d(4, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        x = self.conv1(x)
        return self.conv2(align_whole_map(x) if self.escape else x)


@pytest.mark.parametrize('escape_at,blamed', [('inner', '1'), ('root', '')])
def test_check_blames_the_code_that_computed_a_wrong_input(escape_at, blamed):
    """The first module given a wrong input blames its caller's code: a
    submodule, or the teacher itself (then all of it is kept NCHW)."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), _Pair(escape_at == 'inner'),
        nn.Conv2d(4, 4, 1))
    if escape_at == 'root':
        model = _Pair(True)
        model.conv1 = nn.Conv2d(3, 4, 3, padding=1)
    model.eval()
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        want = model(x)
    execution = TeacherExecution(fold_batchnorm=False, prepack=False)
    execution.prepare(model)
    assert execution.channels_last and execution.boundaries == {}

    def run():
        with execution.running(x.device):
            return {'out': [model(execution.inputs(x))]}

    assert tensor_difference(run()['out'][0], want) > 0.1  # the control
    found = execution.check_layout(model, run)
    assert list(found) == [blamed] and "an input that differed" in \
        found[blamed]
    assert tensor_difference(run()['out'][0], want) < LAYOUT_TOLERANCE
