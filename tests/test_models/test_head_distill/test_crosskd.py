# Copyright (c) mmkd contributors. All rights reserved.
"""CrossKD through the distiller against the paper's equations written out
by hand (tests/crosskd_reference.py), on the toy RetinaNet and GFL configs,
real mmdet models and a batch of the synthetic COCO set."""
import copy

import pytest
import torch
from crosskd_reference import crosskd_reference
from dense_utils import load, shrink_det_cfg
from mmengine.registry import DefaultScope

from mmkd.apis import build_runner, prepare_train_cfg
from mmkd.registry import MODELS

CONFIGS = {
    'retina': ('configs/crosskd/crosskd_head_retinanet_r18-w64_r18-w32_toy-'
               'shapes.py', 'configs/toy/retinanet_r18-w64_shapes-coco.py'),
    'gfl': ('configs/crosskd/crosskd_head_gfl_r18-w64_r18-w32_toy-shapes.py',
            'configs/toy/gfl_r18-w64_shapes-coco.py'),
}


def build(cfg):
    with DefaultScope.overwrite_default_scope('mmdet'):
        return MODELS.build(copy.deepcopy(cfg))


def teacher_weights(teacher_cfg: str, path, seed: int = 0) -> str:
    """A fresh teacher (mmdet's init) with its head's predictors and
    BatchNorm statistics moved off their initial values, so that its
    scores vary over priors and classes."""
    torch.manual_seed(seed)
    model = build(load(teacher_cfg).model)
    model.init_weights()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.startswith('bbox_head.'):
                param.add_(torch.randn_like(param) * 0.05)
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    torch.save({'state_dict': model.state_dict()}, str(path))
    return str(path)


def one_batch(cfg, data_root, tmp_path):
    cfg = shrink_det_cfg(
        copy.deepcopy(cfg), data_root, str(tmp_path), batch_size=2)
    runner = build_runner(prepare_train_cfg(cfg, work_dir=str(tmp_path)))
    return next(iter(runner.train_dataloader))


@pytest.fixture(scope='module', params=sorted(CONFIGS))
def pair(request, tmp_path_factory, coco_shapes_root):
    kind = request.param
    config, teacher_cfg = CONFIGS[kind]
    tmp = tmp_path_factory.mktemp(f'crosskd_{kind}')
    cfg = load(config)
    cfg.model.teacher.checkpoint = teacher_weights(teacher_cfg,
                                                   tmp / 'teacher.pth')
    batch = one_batch(cfg, coco_shapes_root, tmp / 'work')
    torch.manual_seed(1)
    model = build(cfg.model)
    model.init_weights()
    model.train()
    data = model.data_preprocessor(batch, True)
    return kind, cfg, model, data['inputs'], data['data_samples']


def student_params(model):
    head = model.student.bbox_head
    entry = model.distill_entries[0]
    return {
        'cls_convs.0': head.cls_convs[0].conv.weight,
        'reg_convs.1': head.reg_convs[1].conv.weight,
        'backbone.conv1': model.student.backbone.conv1.weight,
        'connector.cls': entry.connectors[0].conv.weight,
        'connector.reg': entry.connectors[1].conv.weight,
    }


def test_losses_and_gradients_match_the_papers_equations(pair):
    kind, cfg, model, inputs, data_samples = pair
    loss_cfg = cfg.model.distill.crosskd.loss
    losses = model.loss(inputs, data_samples)
    got = [
        losses['distill.crosskd.loss_cls'], losses['distill.crosskd.loss_reg']
    ]
    params = student_params(model)
    got_grads = torch.autograd.grad(losses['distill.crosskd.loss'],
                                    list(params.values()))
    want = crosskd_reference(model, inputs, data_samples, kind,
                             loss_cfg.head_idx, loss_cfg.loss_cls.loss_weight,
                             loss_cfg.loss_reg.loss_weight)
    # a loss that is far from its minimum, or the comparison says little
    assert float(want[0]) > 1e-4 and float(want[1]) > 1e-4, want
    for name, g, w in zip(('cls', 'reg'), got, want):
        torch.testing.assert_close(g, w.detach(), rtol=1e-5, atol=0, msg=name)
    torch.testing.assert_close(losses['distill.crosskd.loss'],
                               sum(want).detach(), rtol=1e-5, atol=0)
    want_grads = torch.autograd.grad(sum(want), list(params.values()))
    for name, g, w in zip(params, got_grads, want_grads):
        assert w.abs().max() > 0, name
        torch.testing.assert_close(g, w, rtol=1e-5,
                                   atol=1e-5 * float(w.abs().max()), msg=name)


def test_the_teacher_gets_no_gradient_and_the_students_head_does(pair):
    _, _, model, inputs, data_samples = pair
    model.zero_grad()
    losses = model.loss(inputs, data_samples)
    losses['distill.crosskd.loss'].backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    head = model.student.bbox_head
    for stack in (head.cls_convs, head.reg_convs):
        assert all(m.conv.weight.grad.abs().sum() > 0 for m in stack)
    # the student's own predictors are not on the cross-head path
    predictor = head.retina_cls if hasattr(head, 'retina_cls') else \
        head.gfl_cls
    assert predictor.weight.grad is None or not predictor.weight.grad.any()
    model.zero_grad()


def test_identical_teacher_and_student_give_the_teachers_predictions(
        tmp_path, coco_shapes_root):
    """A student that is the teacher (same config and weights, no
    connector): the cross-head predictions are the teacher's own, up to
    the 1e-6 in the standard deviation, and the loss is at its minimum, 0
    (quality focal loss at p = q, GIoU of equal boxes, KL of equal
    distributions) up to float rounding (measured 1.3e-5 for RetinaNet's
    GIoU summed over every prior); moving the student's head off the
    teacher's raises it a hundredfold and more."""
    for kind, (config, teacher_cfg) in sorted(CONFIGS.items()):
        cfg = load(config)
        weights = teacher_weights(teacher_cfg, tmp_path / f'{kind}.pth')
        cfg.model.student = load(teacher_cfg).model
        cfg.model.teacher.checkpoint = weights
        entry = cfg.model.distill.crosskd
        entry.pop('connector')
        entry.loss.head_idx = 3  # both heads have 3 convs now
        batch = one_batch(cfg, coco_shapes_root, tmp_path / kind)
        model = build(cfg.model)
        model.student.load_state_dict(
            torch.load(weights, weights_only=True)['state_dict'])
        model.eval()  # BatchNorm statistics as the teacher's
        data = model.data_preprocessor(batch, True)
        inputs, samples = data['inputs'], data['data_samples']
        student_out = model.student_recorder.run(model.student, inputs,
                                                 samples, mode='loss')
        teacher_out = model.teacher_outputs(inputs, samples)
        entry = model.distill_entries[0]
        rec = {
            side: entry.records(out, side, torch.float32)
            for side, out in (('student', student_out), ('teacher',
                                                         teacher_out))
        }
        loss = entry.loss
        cross = loss.student_predictions(rec['student'], rec['teacher'], None)
        own = loss.split('teacher').predictions(rec['teacher'])
        for c, t in zip(cross, own):
            torch.testing.assert_close(c.cls, t.cls, rtol=1e-4, atol=1e-4)
            torch.testing.assert_close(c.reg, t.reg, rtol=1e-4, atol=1e-4)
        total = float(
            entry.head_loss(student_out, teacher_out, samples,
                            torch.float32)[0])
        assert 0 <= total < 1e-4, (kind, total)
        with torch.no_grad():
            for module in model.student.bbox_head.cls_convs:
                module.conv.weight.add_(
                    torch.randn_like(module.conv.weight) * 0.05)
            for module in model.student.bbox_head.reg_convs:
                module.conv.weight.add_(
                    torch.randn_like(module.conv.weight) * 0.05)
            student_out = model.student_recorder.run(model.student, inputs,
                                                     samples, mode='loss')
            moved = float(
                entry.head_loss(student_out, teacher_out, samples,
                                torch.float32)[0])
        assert moved > 100 * max(total, 1e-6), (kind, total, moved)
