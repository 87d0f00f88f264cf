# Copyright (c) mmkd contributors. All rights reserved.
"""What is recorded is what the module produced.

A student and a teacher with the same weights must give a distillation loss
of exactly 0 on every step, wherever the recorded module sits: mmdet's
``ConvFCBBoxHead`` applies an in-place ReLU to each ``shared_fcs.N`` output,
ResNet blocks run ``out += identity`` on ``bn2``'s output, and the teacher's
forward is cut short right after its deepest recorded module while the
student's runs to the end.
"""
import pytest
import torch
from dense_utils import (config_path, load, mirror_default_teacher,
                         randomise_batchnorm, save_untrained, shrink_det_cfg)
from mmengine.registry import DefaultScope

from mmkd.apis import build_runner, prepare_train_cfg
from mmkd.registry import MODELS

FRCNN_S = 'configs/toy/faster-rcnn_r18-w32_shapes-coco.py'
RETINA_PKD = 'configs/pkd/pkd_fpn_retinanet_r18-w64_r18-w32_toy-shapes.py'
RETINA_T = 'configs/toy/retinanet_r18-w64_shapes-coco.py'
BOX_FEAT = 'roi_head.bbox_head.shared_fcs.1'
# (student path = teacher path, modified in place after it by mmdet/ResNet)
PATHS = {
    BOX_FEAT: True,  # in-place ReLU in ConvFCBBoxHead.forward
    'backbone.layer2.0.bn2': True,  # out += identity; relu(out, inplace)
    'backbone.layer2.0.conv2': False,  # bn2 is not in place
    'neck': False,  # the FPN levels are read, never written
}


def _mse(**kwargs):
    return dict(type='mmkd.FeatureMSELoss', **kwargs)


def _entries(paths=tuple(PATHS), box_act=None):
    entries = []
    for path in paths:
        entry = dict(student=path, teacher=path, loss=_mse())
        if path == BOX_FEAT:
            entry['teacher_input_from_student'] = dict(
                module='roi_head.bbox_roi_extractor', arg=1)
            if box_act is not None:
                entry['act_cfg'] = box_act
        entries.append(entry)
    return entries


@pytest.fixture(scope='module')
def same_weights_ckpt(tmp_path_factory):
    """The toy Faster R-CNN student's initial weights, as a checkpoint."""
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(load(FRCNN_S).model)
    model.init_weights()
    # non-trivial norms: bn2's output has both signs (an in-place ReLU
    # would show)
    randomise_batchnorm(model)
    path = tmp_path_factory.mktemp('same') / 'student.pth'
    torch.save({'state_dict': model.state_dict()}, path)
    return str(path), model.state_dict()


# the student's own computation: channels-last and folded BatchNorms change
# the float rounding (~1e-13 here), which is not what the pinned tests test;
# the default-option twin below mirrors them in the student instead
PLAIN_TEACHER = dict(memory_format='contiguous', fold_batchnorm=False)


def _twin_distiller(same_weights_ckpt, paths=tuple(PATHS), box_act=None,
                    teacher_exec=PLAIN_TEACHER):
    """Student and teacher: the same network with the same weights."""
    ckpt, state = same_weights_ckpt
    cfg = load(FRCNN_S)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(
            dict(type='mmkd.SingleTeacherDistiller', student=cfg.model,
                 teacher=dict(config=config_path(FRCNN_S), checkpoint=ckpt),
                 teacher_exec=teacher_exec, distill=_entries(paths, box_act)))
    model.student.load_state_dict(state)
    # eval mode: the student's BatchNorm uses the running statistics, as the
    # teacher's does; loss mode still samples RoIs for the box head
    return model.eval()


def _batches(coco_shapes_root, tmp_path, num):
    cfg = shrink_det_cfg(
        load(FRCNN_S), coco_shapes_root, str(tmp_path), batch_size=2)
    runner = build_runner(prepare_train_cfg(cfg, work_dir=str(tmp_path)))
    loader = iter(runner.train_dataloader)
    return [next(loader) for _ in range(num)]


# the teacher's forward stops after the deepest recorded module of each set:
# right after bn2 (before `out += identity`), after the box head's fc (before
# its ReLU), after the FPN, or after everything
@pytest.mark.parametrize(
    'paths,box_act', [
        (('backbone.layer2.0.bn2', 'backbone.layer2.0.conv2'), None),
        ((BOX_FEAT, ), None),
        ((BOX_FEAT, ), dict(type='ReLU')),
        (('neck', ), None),
        (tuple(PATHS), None),
    ], ids=['resnet-block', 'box-fc', 'box-fc-relu', 'fpn', 'all'])
def test_identical_networks_give_zero_loss_on_every_step(
        same_weights_ckpt, coco_shapes_root, tmp_path, paths, box_act):
    model = _twin_distiller(same_weights_ckpt, paths, box_act)
    _check_zero_loss_on_every_step(model, paths, coco_shapes_root, tmp_path)


@pytest.mark.parametrize('paths',
                         [('backbone.layer2.0.bn2', 'backbone.layer2.0.conv2'),
                          tuple(PATHS)], ids=['resnet-block', 'all'])
def test_identical_networks_zero_loss_with_the_default_teacher(
        same_weights_ckpt, coco_shapes_root, tmp_path, paths):
    """The same with the default teacher options (channels-last, folded
    BatchNorms, prepacked weights), the student computing the same way."""
    model = _twin_distiller(same_weights_ckpt, paths, teacher_exec={})
    mirror_default_teacher(model.student, keep=paths)
    assert model.teacher_exec.channels_last
    assert model.teacher_exec.num_folded > 0
    _check_zero_loss_on_every_step(model, paths, coco_shapes_root, tmp_path)


def _check_zero_loss_on_every_step(model, paths, coco_shapes_root, tmp_path):
    assert model.teacher_recorder.stop_after_all  # early stop on
    batches = _batches(coco_shapes_root, tmp_path, 2)
    data = model.data_preprocessor(batches[0], True)
    # the pre-flight check is the first (settling) pass of both recorders
    model.check_distill(data['inputs'], data['data_samples'])
    steps = batches + batches[:1]  # three steps, a batch seen again
    for step, batch in enumerate(steps):
        data = model.data_preprocessor(batch, True)
        losses = model.loss(data['inputs'], data['data_samples'])
        for path in paths:
            value = losses[f'distill.{path}.loss']
            assert value.item() == 0.0, (step, path, value.item())
        # the student's loss still back-propagates through the copies
        sum(v for k, v in losses.items()
            if 'loss' in k and isinstance(v, torch.Tensor)).backward()
        model.student.zero_grad()


def test_only_outputs_modified_in_place_are_copied(same_weights_ckpt,
                                                   coco_shapes_root, tmp_path):
    model = _twin_distiller(same_weights_ckpt)
    data = model.data_preprocessor(
        _batches(coco_shapes_root, tmp_path, 1)[0], True)
    model.loss(data['inputs'], data['data_samples'])
    want = {path for path, modified in PATHS.items() if modified}
    assert model.student_recorder.copied_paths == want
    assert model.teacher_recorder.copied_paths == want


def test_recording_equals_an_independent_forward(same_weights_ckpt,
                                                 coco_shapes_root, tmp_path):
    """The recorded ``bn2`` output is bn2 applied to conv2's output, computed
    by hand on the teacher, not a value modified by what ran later."""
    model = _twin_distiller(same_weights_ckpt)
    data = model.data_preprocessor(
        _batches(coco_shapes_root, tmp_path, 1)[0], True)
    inputs = data['inputs']
    for _ in range(2):  # the settling pass, then a cut-short pass
        out = model.teacher_recorder.run(model.teacher, inputs,
                                         data['data_samples'], mode='tensor')
    backbone = model.teacher.backbone
    with torch.no_grad():
        x = backbone.maxpool(
            backbone.relu(backbone.norm1(backbone.conv1(inputs))))
        x = backbone.layer1(x)
        block = backbone.layer2[0]
        hidden = block.relu(block.norm1(block.conv1(x)))
        conv2 = block.conv2(hidden)
        bn2 = block.norm2(conv2)
    torch.testing.assert_close(out['backbone.layer2.0.conv2'][0], conv2,
                               rtol=0, atol=0)
    torch.testing.assert_close(out['backbone.layer2.0.bn2'][0], bn2, rtol=0,
                               atol=0)
    assert (bn2 < 0).any()  # pre-residual, pre-ReLU: a ReLU would show


# ---------------------------------------------------- impossible recordings
@pytest.fixture(scope='module')
def retina_ckpt(tmp_path_factory):
    return save_untrained(RETINA_T,
                          tmp_path_factory.mktemp('retina') / 'teacher.pth')


def _retina_runner(retina_ckpt, data_root, work_dir, **entry):
    cfg = load(RETINA_PKD)
    cfg.model.teacher.checkpoint = retina_ckpt
    cfg.model.distill.neck.update(entry)
    cfg = shrink_det_cfg(cfg, data_root, str(work_dir))
    return build_runner(prepare_train_cfg(cfg, work_dir=str(work_dir)))


def test_module_not_run_in_teacher_forward_mode_fails_before_training(
        retina_ckpt, coco_shapes_root, tmp_path):
    # mmdet's tensor mode calls bbox_head.forward directly: no hook fires
    runner = _retina_runner(retina_ckpt, coco_shapes_root, tmp_path,
                            student='bbox_head', teacher='bbox_head',
                            student_index=0, teacher_index=0)
    with pytest.raises(
            RuntimeError,
            match=r"teacher: modules \['bbox_head'\] produced no "
            r"output.*teacher_forward_mode='predict'"):
        runner.train()
    assert runner.iter == 0


def test_index_past_the_tuple_end_fails_before_training(
        retina_ckpt, coco_shapes_root, tmp_path):
    runner = _retina_runner(retina_ckpt, coco_shapes_root, tmp_path,
                            student_index=[0, 5], teacher_index=[0, 5])
    with pytest.raises(
            IndexError, match=r"index \[5\] is past the end.*tuple of 5 "
            r"elements.*0\.\.4"):
        runner.train()
    assert runner.iter == 0


def test_index_list_selects_levels(retina_ckpt, coco_shapes_root, tmp_path):
    runner = _retina_runner(retina_ckpt, coco_shapes_root, tmp_path,
                            student_index=[0, 1, 2, 3],
                            teacher_index=[0, 1, 2, 3], num_levels=4)
    model = runner.model
    data = model.data_preprocessor(next(iter(runner.train_dataloader)), True)
    shapes = model.check_distill(data['inputs'], data['data_samples'])
    with torch.no_grad():
        neck = model.teacher.neck(model.teacher.backbone(data['inputs']))
    assert shapes['neck'] == [tuple(t.shape) for t in neck[:4]]
