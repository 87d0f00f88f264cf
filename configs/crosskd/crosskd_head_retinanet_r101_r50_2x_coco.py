# CrossKD (Wang et al., CVPR 2024) on RetinaNet: the student head's
# features after its stacked conv 3 (both branches) go through the
# teacher's conv 4 and predictors; these cross-head predictions mimic the
# teacher's: quality focal loss on the class scores, GIoU on the decoded
# boxes weighted by the teacher's max score. The FPN is not distilled.
# Target (CrossKD's README): RetinaNet R101 2x (38.9) -> R50 2x (37.4):
# 39.7 box AP.
# student, teacher (mmdet model zoo) and the pair's FPN entry
_base_ = ['../_base_/pairs/retinanet_r101_r50_2x_coco.py']
# which entries and losses: the head; the FPN entry dropped
model = dict(distill=dict(
    neck=None,
    crosskd=dict(
        student='bbox_head', teacher='bbox_head',
        loss=dict(type='mmkd.CrossKDLoss', head_idx=3,
                  loss_cls=dict(type='mmkd.KDQualityFocalLoss', beta=1.0,
                                loss_weight=1.0),
                  loss_reg=dict(type='mmdet.GIoULoss', loss_weight=1.0)))))
