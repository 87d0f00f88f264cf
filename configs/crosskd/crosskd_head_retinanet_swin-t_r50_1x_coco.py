# CrossKD (Wang et al., CVPR 2024) from a transformer teacher: RetinaNet
# Swin-T -> R50, as the CrossKD RetinaNet config (the student head's
# features after its conv 3 through the teacher's conv 4 and predictors;
# quality focal loss, GIoU weighted by the teacher's max score). The two
# heads are alike (RetinaHead, 256 channels, strides 8-128): no connector.
# Target (CrossKD's README, heterogeneous results): RetinaNet Swin-T 1x
# (37.3) -> R50 1x (36.5): 38.0 box AP.
# student, teacher (CrossKD's own weights: see the pair base) and the
# pair's FPN entry
_base_ = ['../_base_/pairs/retinanet_swin-t_r50_1x_coco.py']
# which entries and losses: the head; the FPN entry dropped
model = dict(distill=dict(
    neck=None,
    crosskd=dict(
        student='bbox_head', teacher='bbox_head',
        loss=dict(type='mmkd.CrossKDLoss', head_idx=3,
                  loss_cls=dict(type='mmkd.KDQualityFocalLoss', beta=1.0,
                                loss_weight=1.0),
                  loss_reg=dict(type='mmdet.GIoULoss', loss_weight=1.0)))))
