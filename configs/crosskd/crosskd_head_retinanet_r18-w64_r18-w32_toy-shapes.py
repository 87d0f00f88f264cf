# Toy CrossKD: RetinaNet R18-w64 (3 head convs, 128 wide) -> R18-w32 (2 head
# convs, 64 wide) on the synthetic shapes set. The student's head feature
# after its conv 2 (a 1x1-conv + BN connector per branch takes it to 128
# channels) runs through the teacher's conv 3 and predictors; the cross-head
# predictions mimic the teacher's (quality focal loss, GIoU on the boxes).
_base_ = ['../_base_/pairs/retinanet_r18-w64_r18-w32_toy-shapes.py']
model = dict(distill=dict(
    neck=None,  # the pair's FPN entry: CrossKD distils the head only
    crosskd=dict(
        student='bbox_head', teacher='bbox_head',
        loss=dict(type='mmkd.CrossKDLoss', head_idx=2,
                  loss_cls=dict(type='mmkd.KDQualityFocalLoss', beta=1.0,
                                loss_weight=1.0),
                  loss_reg=dict(type='mmdet.GIoULoss', loss_weight=1.0)),
        connector=dict(type='mmkd.ConvConnector', in_channels=64,
                       out_channels=128))))
