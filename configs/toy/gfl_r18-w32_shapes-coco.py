# Toy GFL (the student of the toy GFL pairs): the toy RetinaNet's backbone,
# neck, data and schedule with mmdet's GFL head and training settings
# (gfl_r50_fpn_1x_coco.py), shrunk like it: 64 wide, 2 head convs.
_base_ = ['./retinanet_r18-w32_shapes-coco.py']
model = dict(
    type='GFL',
    bbox_head=dict(
        _delete_=True,
        type='GFLHead',
        num_classes=4,
        in_channels={{_base_.neck_channels}},
        feat_channels={{_base_.neck_channels}},
        stacked_convs=2,
        anchor_generator=dict(
            type='AnchorGenerator',
            ratios=[1.0],
            octave_base_scale=4,
            scales_per_octave=1,
            strides=[8, 16, 32, 64, 128]),
        loss_cls=dict(
            type='QualityFocalLoss',
            use_sigmoid=True,
            beta=2.0,
            loss_weight=1.0),
        loss_dfl=dict(type='DistributionFocalLoss', loss_weight=0.25),
        reg_max=16,
        loss_bbox=dict(type='GIoULoss', loss_weight=2.0)),
    train_cfg=dict(
        _delete_=True,
        assigner=dict(type='ATSSAssigner', topk=9),
        allowed_border=-1,
        pos_weight=-1,
        debug=False),
    test_cfg=dict(nms=dict(type='nms', iou_threshold=0.6)))
