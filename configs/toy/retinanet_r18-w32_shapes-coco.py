# Toy RetinaNet (the student of the toy pairs): mmdet's own RetinaNet model,
# schedule and runtime, shrunk (ResNet-18 at width 32, 64-channel FPN and
# head, 2 head convs) to train on the synthetic shapes set on a CPU.
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py',
    '../_base_/datasets/coco_shapes.py',
    '../_base_/schedules/shapes_det_12e.py',
    'mmdet::_base_/default_runtime.py'
]
width = 32  # ResNet-18 base channels (64 in the real one)
neck_channels = 64
model = dict(
    backbone=dict(
        depth=18,
        base_channels=width,
        frozen_stages=-1,
        norm_eval=False,
        init_cfg=None),  # no ImageNet weights offline
    neck=dict(
        in_channels=[width, width * 2, width * 4, width * 8],
        out_channels=neck_channels),
    bbox_head=dict(
        num_classes=4,
        in_channels=neck_channels,
        feat_channels=neck_channels,
        stacked_convs=2,
        anchor_generator=dict(octave_base_scale=2)),
    test_cfg=dict(nms_pre=200, max_per_img=50))

max_epochs = 12
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
randomness = dict(seed=0)
