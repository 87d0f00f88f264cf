# Copyright (c) mmkd contributors. All rights reserved.
"""A channels-last teacher hands mmcv's ops (and modules fed from the
student) contiguous tensors: with the default teacher options, a student
and a teacher with the same weights give a distillation loss of exactly 0
through an RoIAlign fed from the student and through deformable
convolutions.

The student here is the independent reference: the same weights, computing
the way the default teacher does (BatchNorms folded, channels-last
convolutions), with the NCHW handling of mmcv's ops written out by hand
(their weights NCHW, a pre-hook making their inputs contiguous). Float
rounding then matches bit for bit, so any layout mistake in the teacher
shows as a non-zero loss (RoIAlign reading NHWC memory as NCHW) or an error
(DeformConv2d refuses a channels-last input).
"""
import copy

import pytest
import torch
import torch.nn as nn
from dense_utils import load, mirror_default_teacher, shrink_det_cfg
from mmengine.registry import DefaultScope

from mmkd.apis import build_runner, prepare_train_cfg
from mmkd.models.teacher import teacher_layout
from mmkd.registry import MODELS

FRCNN_S = 'configs/toy/faster-rcnn_r18-w32_shapes-coco.py'
RETINA_S = 'configs/toy/retinanet_r18-w32_shapes-coco.py'
PSP_S = 'configs/toy/pspnet_r18-w16_shapes-cityscapes.py'
LSH_FRCNN = ('configs/lsh/'
             'lsh_bbox-head_faster-rcnn_r18-w64_r18-w32_toy-shapes.py')
BOX_FEAT = 'roi_head.bbox_head.shared_fcs.1'
FORMATS = [None, 'channels_last']  # None: the default ('auto')


def _give_bn_statistics(model: nn.Module, seed: int = 0) -> None:
    """Non-trivial BatchNorm statistics (mmdet zero-initialises some)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                c = module.num_features
                module.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                module.bias.copy_(torch.randn(c, generator=gen) * 0.1)
                module.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
                module.running_var.copy_(torch.rand(c, generator=gen) + 0.5)


def _twin(model_cfg: dict, state: dict, ckpt: str, entries: list,
          memory_format=None) -> nn.Module:
    teacher_exec = {} if memory_format is None else dict(
        memory_format=memory_format)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(
            dict(
                type='mmkd.SingleTeacherDistiller',
                student=copy.deepcopy(model_cfg), teacher=dict(
                    model=copy.deepcopy(model_cfg), checkpoint=ckpt,
                    default_scope='mmdet'), teacher_exec=teacher_exec,
                distill=entries))
    model.student.load_state_dict(state)
    model.eval()
    mirror_default_teacher(model.student)
    return model


def _batches(cfg, coco_shapes_root, tmp_path, num):
    cfg = shrink_det_cfg(cfg, coco_shapes_root, str(tmp_path), batch_size=2)
    runner = build_runner(prepare_train_cfg(cfg, work_dir=str(tmp_path)))
    loader = iter(runner.train_dataloader)
    return [next(loader) for _ in range(num)]


def _losses_over_steps(model, batches):
    data = model.data_preprocessor(batches[0], True)
    model.check_distill(data['inputs'], data['data_samples'])
    values = []
    for batch in batches + batches[:1]:  # a batch seen again
        data = model.data_preprocessor(batch, True)
        losses = model.loss(data['inputs'], data['data_samples'])
        values.append({
            k: v.item()
            for k, v in losses.items()
            if k.startswith('distill.') and k.endswith('.loss')
        })
    return values


def _saved(model_cfg, path, seed=0):
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(copy.deepcopy(model_cfg))
    model.init_weights()
    _give_bn_statistics(model, seed)
    torch.save({'state_dict': model.state_dict()}, str(path))
    return str(path), model.state_dict()


# ------------------------------------------------------------ RoI entry
def _roi_entry() -> dict:
    """The LSH Faster R-CNN toy config's RoI entry (the teacher's box head
    on the student's sampled RoIs), with an MSE loss and no connector: the
    twin's features have the same width."""
    entry = dict(load(LSH_FRCNN).model.distill[BOX_FEAT])
    entry.pop('connector')
    entry['loss'] = dict(type='mmkd.FeatureMSELoss')
    assert entry['teacher_input_from_student'] == dict(
        module='roi_head.bbox_roi_extractor', arg=1)
    return {BOX_FEAT: entry}


@pytest.fixture(scope='module')
def frcnn_twin_ckpt(tmp_path_factory):
    return _twin_weights(load(FRCNN_S).model, tmp_path_factory)


def _twin_weights(model_cfg, tmp_path_factory):
    """``(model_cfg, checkpoint path, state dict)`` of fresh weights."""
    path = tmp_path_factory.mktemp('twin') / 'weights.pth'
    return (model_cfg, ) + _saved(model_cfg, path)


@pytest.mark.parametrize('memory_format', FORMATS,
                         ids=['default', 'channels_last'])
def test_roi_entry_identical_networks_zero_loss(frcnn_twin_ckpt,
                                                coco_shapes_root, tmp_path,
                                                memory_format):
    model_cfg, ckpt, state = frcnn_twin_ckpt
    model = _twin(model_cfg, state, ckpt, _roi_entry(), memory_format)
    boundaries = model.teacher_exec.boundaries
    assert model.teacher_exec.channels_last
    assert 'roi_head.bbox_roi_extractor' in boundaries  # relayed
    batches = _batches(load(FRCNN_S), coco_shapes_root, tmp_path, 2)
    for step, values in enumerate(_losses_over_steps(model, batches)):
        assert values == {f'distill.{BOX_FEAT}.loss': 0.0}, step


def test_roi_entry_without_the_boundaries_is_wrong(frcnn_twin_ckpt,
                                                   coco_shapes_root, tmp_path,
                                                   monkeypatch):
    """The control: channels-last maps reaching RoIAlign (no boundaries)
    give other RoI features, so the test above can fail."""
    monkeypatch.setattr('mmkd.models.teacher.teacher_execution.plan_layout',
                        lambda model, relayed=(): {})
    model_cfg, ckpt, state = frcnn_twin_ckpt
    model = _twin(model_cfg, state, ckpt, _roi_entry())
    assert model.teacher_exec.boundaries == {}
    batches = _batches(load(FRCNN_S), coco_shapes_root, tmp_path, 1)
    values = _losses_over_steps(model, batches)
    assert values[0][f'distill.{BOX_FEAT}.loss'] > 1e-3


# ----------------------------------------------------------- DCN teacher
def _dcn_retina_cfg():
    """The toy RetinaNet with a ResNet-50-style backbone at width 16 whose
    second stage has deformable convolutions (mmcv's DeformConv2dPack)."""
    cfg = load(RETINA_S).model
    cfg.backbone.update(
        depth=50, base_channels=16, dcn=dict(type='DCN', deform_groups=1,
                                             fallback_on_stride=False),
        stage_with_dcn=(False, True, False, False))
    cfg.neck.in_channels = [64, 128, 256, 512]
    return cfg


@pytest.fixture(scope='module')
def dcn_twin_ckpt(tmp_path_factory):
    return _twin_weights(_dcn_retina_cfg(), tmp_path_factory)


@pytest.mark.parametrize('memory_format', FORMATS,
                         ids=['default', 'channels_last'])
def test_dcn_teacher_identical_networks_zero_loss(dcn_twin_ckpt,
                                                  coco_shapes_root, tmp_path,
                                                  memory_format):
    model_cfg, ckpt, state = dcn_twin_ckpt
    entries = {
        'neck':
        dict(student='neck', teacher='neck',
             loss=dict(type='mmkd.FeatureMSELoss'))
    }
    model = _twin(model_cfg, state, ckpt, entries, memory_format)
    dcn = [
        p for p, r in model.teacher_exec.boundaries.items()
        if 'DeformConv2dPack' in r
    ]
    assert dcn and all(p.startswith('backbone.layer2.') for p in dcn)
    # the boundary keeps its weights NCHW, the rest is channels-last
    conv2 = model.teacher.backbone.layer2[0].conv2
    assert conv2.weight.is_contiguous()
    assert model.teacher.backbone.layer1[0].conv2.weight.is_contiguous(
        memory_format=torch.channels_last)
    batches = _batches(load(RETINA_S), coco_shapes_root, tmp_path, 2)
    for step, values in enumerate(_losses_over_steps(model, batches)):
        assert values == {'distill.neck.loss': 0.0}, step


def test_dcn_on_channels_last_input_raises():
    """What the boundary prevents: mmcv's DeformConv2d refuses a
    channels-last input."""
    from mmcv.ops import DeformConv2dPack
    conv = DeformConv2dPack(4, 4, 3, padding=1)
    x = torch.rand(1, 4, 8, 8)
    conv(x)  # NCHW: fine
    with pytest.raises(Exception, match='contiguous'):
        conv(x.contiguous(memory_format=torch.channels_last))


def test_roi_align_reads_channels_last_memory_as_nchw():
    """What the boundary prevents: mmcv's RoIAlign on a channels-last map
    returns other values, without an error."""
    from mmcv.ops import RoIAlign
    gen = torch.Generator().manual_seed(0)
    feat = torch.rand(2, 8, 32, 32, generator=gen)
    rois = torch.tensor([[0, 2., 3., 20., 25.], [1, 5., 1., 30., 12.]])
    align = RoIAlign((7, 7), 1.0, 2)
    ref = align(feat, rois)
    wrong = align(feat.contiguous(memory_format=torch.channels_last), rois)
    assert (ref - wrong).abs().max() > 0.1


# --------------------------------------------------------------- the plan
@pytest.mark.parametrize('rel,scope', [(RETINA_S, 'mmdet'), (PSP_S, 'mmseg')],
                         ids=['retinanet', 'pspnet'])
def test_plan_of_the_demo_teachers_has_no_boundary(rel, scope):
    """mmdet's RetinaNet and mmseg's PSPNet are torch layers only:
    channels-last throughout."""
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(load(rel).model)
    assert teacher_layout.plan_layout(model) == {}


def test_plan_names_mmcv_ops_unknown_layers_and_relayed_modules():
    from mmcv.ops import RoIAlign, roi_align

    class CallsAnOp(nn.Module):  # its forward calls mmcv's roi_align

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 1)

        def forward(self, x, rois):
            return roi_align(self.conv(x), rois, (2, 2))

    class Unknown(nn.Module):  # a leaf of unknown layout

        def forward(self, x):
            return x.view(x.shape[0], -1)

    model = nn.Sequential()
    model.add_module('conv', nn.Conv2d(3, 4, 3))
    model.add_module('op', RoIAlign((2, 2), 1.0))
    model.add_module('calls', CallsAnOp())
    model.add_module('leaf', Unknown())
    model.add_module('fed', nn.Sequential(nn.Conv2d(4, 4, 1)))
    model.add_module('relu', nn.ReLU())
    plan = teacher_layout.plan_layout(model, relayed=['fed'])
    assert set(plan) == {'op', 'calls', 'leaf', 'fed'}
    assert 'mmcv op' in plan['op']
    assert 'roi_align' in plan['calls']
    assert 'unknown layout' in plan['leaf']
    assert 'relayed' in plan['fed']
    teacher_layout.apply_layout(model, plan)
    assert model.conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert model.calls.conv.weight.is_contiguous()  # inside a boundary
    assert model.fed[0].weight.is_contiguous()
    # the leaf's view() takes only a contiguous tensor
    nhwc = torch.rand(1, 4, 3, 3).contiguous(memory_format=torch.channels_last)
    with pytest.raises(RuntimeError, match='view'):
        Unknown()(nhwc)
    assert torch.equal(model.leaf(nhwc), nhwc.reshape(1, -1))


@pytest.mark.parametrize(
    'way',
    ['helper', 'decorated', 'attribute', 'function', 'torch_ops', 'global'])
def test_plan_follows_the_ways_to_an_mmcv_op(way):
    """The toy necks of layout_escapes.py: a module-level helper function
    is left to the pre-flight check, every other way is found."""
    from layout_escapes import NECKS
    with DefaultScope.overwrite_default_scope('mmdet'):
        neck = MODELS.build(
            dict(type=NECKS[way], in_channels=[4, 8], out_channels=4,
                 num_outs=2))
    reason = teacher_layout.boundary_reason(neck,
                                            teacher_layout._safe_forwards())
    expected = {
        'helper': 'roi_align (through self._align)',
        'decorated': 'roi_align (through forward)',
        'attribute': 'self.align',
        'function': 'WholeMapAlign (an autograd.Function of layout_escapes)',
        'torch_ops': 'torch.ops.mmkd_test (a custom torch.ops operator)'
    }
    if way == 'global':
        assert reason is None
    else:
        assert f'its forward calls {expected[way]}' in reason


def test_mmdet_tood_head_is_a_boundary():
    """mmdet's TOODHead reaches deform_conv2d through a helper method."""
    from mmdet.models.dense_heads import TOODHead
    calls = teacher_layout.unsafe_calls(TOODHead)
    assert 'deform_conv2d (through self.deform_sampling)' in calls


def test_boundary_called_through_forward_gets_contiguous_inputs():
    """mmdet's tensor mode calls heads as ``head.forward(x)``, past the
    forward hooks: a boundary still gets contiguous tensors."""
    from mmcv.ops import RoIAlign
    feat = torch.rand(2, 8, 16, 16, generator=torch.Generator().manual_seed(0))
    rois = torch.tensor([[0, 2., 3., 12., 14.], [1, 5., 1., 15., 9.]])
    model = nn.Sequential()
    model.add_module('op', RoIAlign((4, 4), 1.0, 2))
    want = model.op(feat, rois)
    teacher_layout.apply_layout(model, teacher_layout.plan_layout(model))
    nhwc = feat.contiguous(memory_format=torch.channels_last)
    assert torch.equal(model.op.forward(nhwc, rois), want)
    assert torch.equal(model.op(nhwc, rois), want)
