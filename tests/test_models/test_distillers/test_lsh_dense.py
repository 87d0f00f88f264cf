# Copyright (c) mmkd contributors. All rights reserved.
"""LSH feature mimicking on detectors end to end: the toy RetinaNet and
Faster R-CNN LSH configs through the real Runner (median-bias hook
included), CocoMetric, the RetinaNet loss and median bias against a
computation by hand (3 x 3 neighbourhoods, one mean over all levels, the
positions the head's loss ignores left out), and the teacher's box head on
the student's sampled RoIs."""
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from dense_utils import load, shrink_det_cfg, train

from mmkd.apis import build_runner, prepare_train_cfg
from mmkd.engine.hooks import LSHMedianBiasHook

RETINA_T = 'configs/toy/retinanet_r18-w64_shapes-coco.py'
FRCNN_T = 'configs/toy/faster-rcnn_r18-w64_shapes-coco.py'
RETINA_LSH = 'configs/lsh/lsh_cls-head_retinanet_r18-w64_r18-w32_toy-shapes.py'
FRCNN_LSH = \
    'configs/lsh/lsh_bbox-head_faster-rcnn_r18-w64_r18-w32_toy-shapes.py'
BOX_FEAT = 'roi_head.bbox_head.shared_fcs.1'
RETINA_S_FEAT = 'bbox_head.cls_convs.1'
RETINA_T_FEAT = 'bbox_head.cls_convs.2'
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
    logged = {
        k: hub.get_scalar(k).current()
        for k in hub.log_scalars if k.startswith(f'train/distill.{entry.name}')
    }
    loss = logged[f'train/distill.{entry.name}.loss']
    assert torch.isfinite(torch.tensor(loss)) and loss > 0
    # LSHL2: both parts were logged (per level for the RetinaNet head)
    assert any(k.endswith('.lsh') for k in logged)
    assert any(k.endswith('.l2') for k in logged)
    lsh = entry.losses[0]
    assert bool(lsh.initialized)
    std = model.teacher.get_parameter(teacher_param).detach().double().std()
    gen = torch.Generator().manual_seed(lsh.seed)
    expected = torch.randn(lsh.num_bits, lsh.vector_dim, generator=gen)
    torch.testing.assert_close(lsh.proj_weight, expected * float(std))
    assert lsh.proj_bias.abs().sum() > 0  # the median bias was set
    metrics = runner.val_loop.run()
    assert isinstance(metrics['coco/bbox_mAP'], float)  # 0.000-0.001


def test_retinanet_lsh_trains_and_evaluates(retina_teacher, coco_shapes_root,
                                            tmp_path):
    runner = train(
        lsh_cfg(RETINA_LSH, retina_teacher, coco_shapes_root, tmp_path))
    check_trained(runner, 'bbox_head.retina_cls.weight')


class LevelCapture:
    """Copies of the outputs of one module of ``model``, call by call (one
    per FPN level for a head conv), and the data samples ``model`` gets;
    prepended, so they run before the recorder's hooks."""

    def __init__(self, model, path):
        self.feats, self.samples = [], []
        self.handles = [
            model.get_submodule(path).register_forward_hook(
                lambda m, args, out: self.feats.append(out.detach().clone()),
                prepend=True),
            model.register_forward_pre_hook(
                lambda m, args: self.samples.append(args[1]), prepend=True),
        ]

    def remove(self):
        for handle in self.handles:
            handle.remove()


def neighbourhoods(feat, k=3):
    """B x (H*W) x (C*k*k): the k x k neighbourhood of each position
    (row-major), zero outside the map, ordered channel-major then row by
    row, as ``F.unfold`` (the authors' code) orders it."""
    num, channels, height, width = feat.shape
    padded = F.pad(feat, (k // 2, ) * 4)
    shifted = torch.stack([
        padded[:, :, dy:dy + height, dx:dx + width] for dy in range(k)
        for dx in range(k)
    ], dim=2)  # B x C x k*k x H x W
    return shifted.reshape(num, channels * k * k, -1).transpose(1, 2)


def counted_positions(head, feats, samples):
    """B x P bool over the positions of all levels: those with an anchor
    that the head's own loss counts (label weight > 0 in its targets)."""
    from mmdet.models.utils import unpack_gt_instances
    gts, ignored, metas = unpack_gt_instances(samples)
    anchors, valid = head.get_anchors([f.shape[2:] for f in feats], metas,
                                      device=feats[0].device)
    label_weights = head.get_targets(anchors, valid, gts, metas, ignored)[1]
    per_position = head.prior_generator.num_base_priors[0]
    return torch.cat([
        w.view(w.shape[0], -1, per_position).gt(0).any(-1)
        for w in label_weights
    ], dim=1)


def lshl2_by_hand(fs, ft, keep, weight, bias):
    """Per sample the mean over its kept vectors of ``mean_d (fs - ft)^2 +
    mean_bits BCE(W fs + b, 1[W ft + b > 0])``, then the mean over the
    samples with a kept vector; in float64."""
    fs, ft, weight, bias = (x.double() for x in (fs, ft, weight, bias))
    logits = fs @ weight.T + bias
    bits = (ft @ weight.T + bias > 0).double()
    bce = (F.softplus(logits) - bits * logits).mean(-1)
    per_vector = (fs - ft).pow(2).mean(-1) + bce
    counts = keep.sum(1)
    per_sample = (per_vector * keep).sum(1) / counts.clamp(min=1)
    return per_sample[counts > 0].mean()


def test_retinanet_lsh_median_and_loss_by_hand(retina_teacher,
                                               coco_shapes_root, tmp_path):
    """The toy RetinaNet config in the authors' form: the median bias over,
    and the loss on, the teacher's 3 x 3 neighbourhood vectors of all five
    levels, without the positions whose anchors the head's loss ignores."""
    cfg = lsh_cfg(RETINA_LSH, retina_teacher, coco_shapes_root, tmp_path)
    runner = build_runner(prepare_train_cfg(cfg, work_dir=str(tmp_path)))
    model = runner.model
    entry = model.distill_entries[0]
    lsh = entry.losses[0]
    head = model.student.bbox_head
    assert (lsh.unfold, lsh.level_reduction) == (3, 'mean')
    assert lsh.proj_weight.shape == (4096, 128 * 9)
    # a wide ignore band (IoU in [0.1, 0.9)), so that on these small
    # images some positions have all their anchors ignored
    head.assigner.neg_iou_thr, head.assigner.pos_iou_thr = 0.1, 0.9

    # the median-bias pass, every vector kept: -b is the median of W ft
    t_cap = LevelCapture(model.teacher, RETINA_T_FEAT)
    LSHMedianBiasHook(max_batches=1,
                      max_vectors_per_batch=10**7).before_train(runner)
    t_cap.remove()
    assert len(t_cap.feats) == 5 and len(t_cap.samples) == 1
    keep = counted_positions(head, t_cap.feats, t_cap.samples[0])
    assert 0 < int(keep.sum()) < keep.numel()
    ft = torch.cat([neighbourhoods(f) for f in t_cap.feats], dim=1)
    proj = ft[keep].double() @ lsh.proj_weight.double().T
    torch.testing.assert_close(lsh.proj_bias.double(),
                               -proj.median(dim=0).values, rtol=1e-4,
                               atol=1e-5)

    # a training step: the loss on the same vectors, by hand
    batch = next(iter(runner.train_dataloader))
    data = model.data_preprocessor(batch, True)
    inputs, samples = data['inputs'], data['data_samples']
    model.train()
    s_cap = LevelCapture(model.student, RETINA_S_FEAT)
    t_cap = LevelCapture(model.teacher, RETINA_T_FEAT)
    losses = model.loss(inputs, samples)
    s_cap.remove(), t_cap.remove()
    assert len(s_cap.feats) == len(t_cap.feats) == 5
    keep = counted_positions(head, t_cap.feats, samples)
    assert 0 < int(keep.sum()) < keep.numel()
    conv = entry.connectors[0].conv  # 1 x 1, no norm
    with torch.no_grad():
        fs = torch.cat([
            neighbourhoods(F.conv2d(f, conv.weight, conv.bias))
            for f in s_cap.feats
        ], dim=1)
    ft = torch.cat([neighbourhoods(f) for f in t_cap.feats], dim=1)
    want = lsh.loss_weight * lshl2_by_hand(fs, ft, keep, lsh.proj_weight,
                                           lsh.proj_bias)
    got = losses[f'distill.{entry.name}.loss']
    torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=1e-6)


def test_faster_rcnn_lsh_trains_and_evaluates(frcnn_teacher, coco_shapes_root,
                                              tmp_path):
    runner = train(
        lsh_cfg(FRCNN_LSH, frcnn_teacher, coco_shapes_root, tmp_path))
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
                # a copy: the box head applies its ReLU in place afterwards
                lambda m, args, out: self.feats.append(out.detach().clone()),
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


def box_feature(model, inputs, rois):
    """The second shared fc of ``model``'s box head on ``rois`` (before the
    head's ReLU), computed by hand."""
    head = model.roi_head
    with torch.no_grad():
        x = model.extract_feat(inputs)
        feats = head.bbox_roi_extractor(x[:head.bbox_roi_extractor.num_inputs],
                                        rois)
        hidden = torch.relu(head.bbox_head.shared_fcs[0](feats.flatten(1)))
        return head.bbox_head.shared_fcs[1](hidden)


def test_teacher_box_head_runs_on_student_sampled_rois(frcnn_teacher,
                                                       coco_shapes_root,
                                                       tmp_path):
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
    expected = box_feature(model.teacher, inputs, s_rois)
    torch.testing.assert_close(t_cap.feats[0], expected)
    # the student's, by hand on the same batch (train-mode BatchNorm: batch
    # statistics, so the same values as in the step)
    s_expected = box_feature(model.student, inputs, s_rois)
    torch.testing.assert_close(s_cap.feats[0], s_expected)
    # and the loss is LSH(connector(relu(student)), relu(teacher)): the
    # config's act_cfg, the post-ReLU features the authors mimic
    entry = model.distill_entries[0]
    with torch.no_grad():
        want = entry.level_loss(
            torch.relu(s_expected), torch.relu(expected), 0)
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
