# Toy RetinaNet (the student of the toy pairs): mmdet's own RetinaNet model,
# schedule and runtime, shrunk (ResNet-18 at width 32, 64-channel FPN and
# head, 2 head convs) to train on the synthetic shapes set on a CPU.
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py',
    '../_base_/datasets/coco_shapes.py',
    'mmdet::_base_/schedules/schedule_1x.py',
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
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
# small batches of small images: clip gradients (as mmdet's FCOS/ATSS
# recipes do) so an early spike cannot blow the run up
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4),
    clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=50),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[int(max_epochs * 0.75)], gamma=0.1)
]
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
randomness = dict(seed=0)
