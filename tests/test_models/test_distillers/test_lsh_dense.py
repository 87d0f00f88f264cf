# Copyright (c) mmkd contributors. All rights reserved.
"""LSH feature mimicking on detectors end to end: the toy RetinaNet and
Faster R-CNN LSH configs through the real Runner (median-bias hook
included), CocoMetric, and the teacher's box head on the student's sampled
RoIs."""
import os.path as osp

import pytest
import torch

from dense_utils import load, shrink_det_cfg, train
from mmkd.apis import build_runner, prepare_train_cfg
from mmkd.engine.hooks import LSHMedianBiasHook

RETINA_T = 'configs/toy/retinanet_r18-w64_shapes-coco.py'
FRCNN_T = 'configs/toy/faster-rcnn_r18-w64_shapes-coco.py'
RETINA_LSH = 'configs/lsh/lsh_cls-head_retinanet_r18-w64_r18-w32_toy-shapes.py'
FRCNN_LSH = \
    'configs/lsh/lsh_bbox-head_faster-rcnn_r18-w64_r18-w32_toy-shapes.py'
BOX_FEAT = 'roi_head.bbox_head.shared_fcs.1'
EXTRACTOR = 'roi_head.bbox_roi_extractor'


def _teacher_ckpt(tmp_path_factory, config, data_root):
    """A toy teacher trained one epoch with its plain mmdet recipe."""
    work_dir = str(tmp_path_factory.mktemp('teacher'))
    train(shrink_det_cfg(load(config), data_root, work_dir))
    return osp.join(work_dir, 'epoch_1.pth')


@pytest.fixture(scope='module')
def retina_teacher(tmp_path_factory, coco_shapes_root):
    return _teacher_ckpt(tmp_path_factory, RETINA_T, coco_shapes_root)


@pytest.fixture(scope='module')
def frcnn_teacher(tmp_path_factory, coco_shapes_root):
    return _teacher_ckpt(tmp_path_factory, FRCNN_T, coco_shapes_root)


def lsh_cfg(config, teacher_ckpt, data_root, work_dir):
    cfg = load(config)
    cfg.model.teacher.checkpoint = teacher_ckpt
    return shrink_det_cfg(cfg, data_root, str(work_dir))


def check_trained(runner, teacher_param):
    """The distill loss was logged and finite; the LSH projection got the
    std of ``teacher_param`` and a median bias from the hook."""
    model = runner.model
    entry = model.distill_entries[0]
    hub = runner.message_hub
    logged = {k: hub.get_scalar(k).current() for k in hub.log_scalars
              if k.startswith(f'train/distill.{entry.name}')}
    loss = logged[f'train/distill.{entry.name}.loss']
    assert torch.isfinite(torch.tensor(loss)) and loss > 0
    # LSHL2: both parts were logged (per level for the RetinaNet head)
    assert any(k.endswith('.lsh') for k in logged)
    assert any(k.endswith('.l2') for k in logged)
    lsh = entry.losses[0]
    assert bool(lsh.initialized)
    std = model.teacher.get_parameter(teacher_param).detach().double().std()
    gen = torch.Generator().manual_seed(lsh.seed)
    expected = torch.randn(lsh.num_bits, lsh.in_channels, generator=gen)
    torch.testing.assert_close(lsh.proj_weight, expected * float(std))
    assert lsh.proj_bias.abs().sum() > 0  # the median bias was set
    metrics = runner.val_loop.run()
    assert 0.0 <= metrics['coco/bbox_mAP'] <= 1.0


def test_retinanet_lsh_trains_and_evaluates(retina_teacher,
                                            coco_shapes_root, tmp_path):
    runner = train(lsh_cfg(RETINA_LSH, retina_teacher, coco_shapes_root,
                           tmp_path))
    check_trained(runner, 'bbox_head.retina_cls.weight')


def test_faster_rcnn_lsh_trains_and_evaluates(frcnn_teacher,
                                              coco_shapes_root, tmp_path):
    runner = train(lsh_cfg(FRCNN_LSH, frcnn_teacher, coco_shapes_root,
                           tmp_path))
    check_trained(runner, 'roi_head.bbox_head.fc_cls.weight')


class Capture:
    """The RoIs given to a RoI extractor and the box-head features, per
    call, of one model (hooks removed by :meth:`remove`)."""

    def __init__(self, model):
        self.rois, self.feats = [], []
        # prepended: they run before the recorder's hook, which ends the
        # teacher's forward early
        self.handles = [
            model.get_submodule(EXTRACTOR).register_forward_hook(
                lambda m, args, out: self.rois.append(args[1].clone()),
                prepend=True),
            model.get_submodule(BOX_FEAT).register_forward_hook(
                lambda m, args, out: self.feats.append(out.detach()),
                prepend=True),
        ]

    def remove(self):
        for handle in self.handles:
            handle.remove()


def assert_same_boxes(student, teacher):
    assert len(student.rois) == len(teacher.rois) == 1
    s_rois, t_rois = student.rois[0], teacher.rois[0]
    assert torch.equal(t_rois, s_rois)
    # one teacher box-head feature per sampled student RoI
    assert teacher.feats[0].shape[0] == s_rois.shape[0] == \
        student.feats[0].shape[0]


def teacher_box_feature(teacher, inputs, rois):
    """The teacher's second shared fc on ``rois``, computed by hand."""
    head = teacher.roi_head
    with torch.no_grad():
        x = teacher.extract_feat(inputs)
        feats = head.bbox_roi_extractor(
            x[:head.bbox_roi_extractor.num_inputs], rois)
        hidden = head.bbox_head.relu(
            head.bbox_head.shared_fcs[0](feats.flatten(1)))
        return head.bbox_head.shared_fcs[1](hidden)


def test_teacher_box_head_runs_on_student_sampled_rois(
        frcnn_teacher, coco_shapes_root, tmp_path):
    cfg = lsh_cfg(FRCNN_LSH, frcnn_teacher, coco_shapes_root, tmp_path)
    runner = build_runner(prepare_train_cfg(cfg, work_dir=str(tmp_path)))
    model = runner.model
    batch = next(iter(runner.train_dataloader))
    data = model.data_preprocessor(batch, True)
    inputs, samples = data['inputs'], data['data_samples']
    model.train()

    # on its own (the median-bias hook's pass) the teacher still sees the
    # student's sampled RoIs: the student runs first, in eval mode
    s_cap, t_cap = Capture(model.student), Capture(model.teacher)
    LSHMedianBiasHook(max_batches=1).before_train(runner)
    assert_same_boxes(s_cap, t_cap)
    assert model.student.training  # its mode is restored
    s_cap.remove(), t_cap.remove()

    # the training step
    s_cap, t_cap = Capture(model.student), Capture(model.teacher)
    losses = model.loss(inputs, samples)
    s_cap.remove(), t_cap.remove()
    assert_same_boxes(s_cap, t_cap)
    s_rois = s_cap.rois[0]
    # they are the sampled RoIs: at most `num` per image, gt boxes included
    sampler_num = cfg.model.student.train_cfg.rcnn.sampler.num
    for i, sample in enumerate(samples):
        boxes = s_rois[s_rois[:, 0] == i, 1:]
        assert 0 < boxes.shape[0] <= sampler_num
        for gt in sample.gt_instances.bboxes:
            assert (boxes == gt).all(dim=1).any()
    # the recorded teacher feature is its box head on those RoIs
    expected = teacher_box_feature(model.teacher, inputs, s_rois)
    torch.testing.assert_close(t_cap.feats[0], expected)
    # and the loss is LSH(connector(student feature), that feature)
    entry = model.distill_entries[0]
    with torch.no_grad():
        want = entry.level_loss(s_cap.feats[0], expected, 0)
    torch.testing.assert_close(losses[f'distill.{entry.name}.loss'], want)
    # nothing of this batch is kept for the next one
    assert not any(model.input_relay.recorded.values())
    # without the relay the teacher would have used its own proposals
    t_cap = Capture(model.teacher)
    with torch.no_grad():
        model.teacher(inputs, samples, mode='tensor')
    t_cap.remove()
    assert not torch.equal(t_cap.rois[0], s_rois)

    # the pre-training check: student first, the same boxes
    s_cap, t_cap = Capture(model.student), Capture(model.teacher)
    shapes = model.check_distill(inputs, samples)
    s_cap.remove(), t_cap.remove()
    assert_same_boxes(s_cap, t_cap)
    assert shapes[entry.name] == [tuple(t_cap.feats[0].shape)]
