# Copyright (c) mmkd contributors. All rights reserved.
"""Bad distillation configs fail before the first iteration, clearly."""
import pytest
import torch
from dense_utils import load, shrink_det_cfg
from mmengine.hooks import Hook

from mmkd.apis import build_runner, prepare_train_cfg

PKD_TOY = 'configs/pkd/pkd_fpn_retinanet_r18-w64_r18-w32_toy-shapes.py'


@pytest.fixture
def teacher_ckpt(retina_teacher_ckpt):
    return retina_teacher_ckpt  # conftest's untrained toy teacher


def distill_cfg(teacher_ckpt, data_root, work_dir, **entry):
    cfg = load(PKD_TOY)
    cfg.model.teacher.checkpoint = teacher_ckpt
    cfg.model.distill.neck.update(entry)
    return shrink_det_cfg(cfg, data_root, str(work_dir))


def build(cfg, work_dir):
    return build_runner(prepare_train_cfg(cfg, work_dir=str(work_dir)))


def test_unknown_module_path_lists_closest(teacher_ckpt, coco_shapes_root,
                                           tmp_path):
    cfg = distill_cfg(teacher_ckpt, coco_shapes_root, tmp_path,
                      student='necks')
    with pytest.raises(ValueError, match=r"no module 'necks'.*'neck'"):
        build(cfg, tmp_path)


def test_shape_mismatch_without_connector_names_the_fix(
        teacher_ckpt, coco_shapes_root, tmp_path):
    cfg = distill_cfg(teacher_ckpt, coco_shapes_root, tmp_path)
    cfg.model.distill.neck.pop('connector')
    runner = build(cfg, tmp_path)
    with pytest.raises(ValueError, match='mmkd.ConvConnector'):
        runner.train()
    assert runner.iter == 0  # failed before the first iteration


def test_missing_teacher_checkpoint(coco_shapes_root, tmp_path):
    cfg = distill_cfg(str(tmp_path / 'nope.pth'), coco_shapes_root, tmp_path)
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        build(cfg, tmp_path)


def test_teacher_checkpoint_with_mismatched_keys(teacher_ckpt,
                                                 coco_shapes_root, tmp_path):
    state = torch.load(teacher_ckpt, weights_only=True)['state_dict']
    state['extra.weight'] = torch.zeros(1)
    del state['bbox_head.retina_cls.bias']
    bad = tmp_path / 'bad.pth'
    torch.save({'state_dict': state}, bad)
    cfg = distill_cfg(str(bad), coco_shapes_root, tmp_path)
    with pytest.raises(KeyError) as err:
        build(cfg, tmp_path)
    assert 'bbox_head.retina_cls.bias' in str(err.value)
    assert 'extra.weight' in str(err.value)


def test_unregistered_loss_type(teacher_ckpt, coco_shapes_root, tmp_path):
    cfg = distill_cfg(teacher_ckpt, coco_shapes_root, tmp_path,
                      loss=dict(type='mmkd.NoSuchLoss'))
    with pytest.raises(KeyError, match='Registered mmkd losses.*PKDLoss'):
        build(cfg, tmp_path)


def test_tuple_output_the_loss_cannot_handle(teacher_ckpt, coco_shapes_root,
                                             tmp_path):
    # bbox_head outputs (cls_scores, bbox_preds), each a list per level
    cfg = distill_cfg(teacher_ckpt, coco_shapes_root, tmp_path,
                      student='bbox_head', teacher='bbox_head')
    # mmdet's tensor mode calls bbox_head.forward directly (no hooks fire);
    # predict mode calls the head module
    cfg.model.teacher_forward_mode = 'predict'
    runner = build(cfg, tmp_path)
    with pytest.raises(TypeError, match='student_index'):
        runner.train()
    assert runner.iter == 0


def test_nan_loss_in_the_preflight_check_names_entry_and_level(
        teacher_ckpt, coco_shapes_root, tmp_path):
    runner = build(
        distill_cfg(teacher_ckpt, coco_shapes_root, tmp_path), tmp_path)
    model = runner.model
    data = model.data_preprocessor(next(iter(runner.train_dataloader)), True)
    with torch.no_grad():  # corrupt the student's third FPN output conv
        model.student.neck.fpn_convs[2].conv.weight.fill_(float('nan'))
    with pytest.raises(FloatingPointError, match=r"'neck', level 2"):
        model.check_distill(data['inputs'], data['data_samples'])
    # a training step itself does not sync with the host to check: the
    # logged value is checked after it (NonFiniteLossHook)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert not torch.isfinite(losses['distill.neck.loss'])
    levels = model.last_level_losses()['neck']
    assert [bool(torch.isfinite(v))
            for v in levels] == [True, True, False, True, True]


class CorruptBeforeIteration(Hook):
    """Makes the student's third FPN output conv NaN before iteration
    ``at`` (0-based)."""
    priority = 'HIGHEST'

    def __init__(self, at: int) -> None:
        self.at = at

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter == self.at:
            with torch.no_grad():
                runner.model.student.neck.fpn_convs[2].conv.weight.fill_(
                    float('nan'))


def test_nan_loss_in_training_stops_before_anything_is_saved(
        teacher_ckpt, coco_shapes_root, tmp_path):
    cfg = distill_cfg(teacher_ckpt, coco_shapes_root, tmp_path)
    cfg.train_cfg.max_epochs = 2  # 2 iterations an epoch
    runner = build(cfg, tmp_path)
    runner.register_hook(CorruptBeforeIteration(at=3))
    with pytest.raises(FloatingPointError) as err:
        runner.train()
    message = str(err.value)
    assert 'non-finite distillation loss at iteration 4: rank 0: ' \
        'distill.neck.loss = nan (level 2)' in message
    assert 'learning rate' in message
    # epoch 1's checkpoint is there; nothing was written after the bad step
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['epoch_1.pth']
    assert (tmp_path /
            'last_checkpoint').read_text().strip().endswith('epoch_1.pth')


def test_check_finite_false_trains_on(teacher_ckpt, coco_shapes_root,
                                      tmp_path):
    cfg = distill_cfg(teacher_ckpt, coco_shapes_root, tmp_path)
    cfg.model.check_finite = False
    runner = build(cfg, tmp_path)
    runner.register_hook(CorruptBeforeIteration(at=1))
    runner.train()
    assert runner.iter == 2


def test_training_tool_needs_existing_data_root(teacher_ckpt, tmp_path):
    cfg = distill_cfg(teacher_ckpt, str(tmp_path / 'no_data') + '/', tmp_path)
    with pytest.raises(FileNotFoundError, match='data_root'):
        prepare_train_cfg(cfg, work_dir=str(tmp_path))


def test_logit_loss_on_feature_maps_names_entry_shapes_and_losses(
        teacher_ckpt, coco_shapes_root, tmp_path):
    # KD on the five FPN levels: the data samples have no class labels, but
    # the mistake is the loss, and the message says so
    cfg = distill_cfg(teacher_ckpt, coco_shapes_root, tmp_path,
                      loss=dict(type='mmkd.KDLoss'))
    runner = build(cfg, tmp_path)
    with pytest.raises(
            ValueError,
            match=r"entry 'neck': KDLoss is a logit loss.*'neck' gives 5 "
            r'level\(s\) of shape \[\(4, 64, 8, 8\).*feature maps.*'
            r'mmkd\.CWDLoss.*mmkd\.PKDLoss'):
        runner.train()
    assert runner.iter == 0  # the pre-flight check, before any iteration


def test_annotation_file_without_images_is_named(teacher_ckpt,
                                                 coco_shapes_root, tmp_path):
    import json
    src = f'{coco_shapes_root}annotations/instances_train.json'
    with open(src) as f:
        ann = json.load(f)
    n_ann = len(ann['annotations'])
    assert n_ann > 0
    empty = tmp_path / 'no_images.json'
    empty.write_text(json.dumps(dict(ann, images=[])))
    cfg = distill_cfg(teacher_ckpt, coco_shapes_root, tmp_path)
    cfg.train_dataloader.dataset.ann_file = str(empty)
    with pytest.raises(
            ValueError, match=rf'train_dataloader: annotation file '
            rf'{empty} holds 0 images and {n_ann} annotations'):
        prepare_train_cfg(cfg, work_dir=str(tmp_path))


def test_teacher_checkpoint_of_another_model_names_shapes_and_fix(
        coco_shapes_root, tmp_path):
    # the student's (width 32) weights given as the teacher's (width 64)
    from mmdet.registry import MODELS
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmdet'):
        other = MODELS.build(
            load('configs/toy/retinanet_r18-w32_shapes-coco.py').model)
    path = tmp_path / 'student.pth'
    torch.save({'state_dict': other.state_dict()}, path)
    cfg = distill_cfg(str(path), coco_shapes_root, tmp_path)
    with pytest.raises(
            ValueError, match=r'(?s)was not trained with this teacher config.*'
            r'backbone\.conv1\.weight: checkpoint \(32, 3, 7, 7\), teacher '
            r'model \(64, 3, 7, 7\).*another model.*Fix: set the teacher '
            r'`config` to the config the checkpoint was trained with'):
        build(cfg, tmp_path)


def test_teacher_config_with_other_class_count_names_num_classes(
        teacher_ckpt, coco_shapes_root, tmp_path):
    cfg = distill_cfg(teacher_ckpt, coco_shapes_root, tmp_path)
    cfg.model.teacher.cfg_options = {'model.bbox_head.num_classes': 80}
    with pytest.raises(
            ValueError, match=r'(?s)bbox_head\.retina_cls\.weight: checkpoint '
            r'\(36, 128, 3, 3\), teacher model \(720, 128, 3, 3\).*'
            r'bbox_head \(num_classes=80 in the config, 4 in the '
            r"checkpoint\).*cfg_options=\{'model\.bbox_head\.num_classes': "
            r'4\}'):
        build(cfg, tmp_path)
