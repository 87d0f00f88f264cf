# CrossKD (Wang et al., CVPR 2024) on ATSS: the student head's features
# after its stacked conv 3 go through the teacher's conv 4 and predictors;
# the cross-head predictions mimic the teacher's: quality focal loss on
# the class scores, GIoU on the decoded boxes weighted by the teacher's max
# score, and binary cross-entropy of the positives' centerness against the
# teacher's, as CrossKD's ATSS config. The FPN is not distilled.
# Target (CrossKD's README): ATSS R101 1x (41.5) -> R50 1x (39.4): 41.8 box
# AP.
# student, teacher (mmdet model zoo) and the pair's FPN entry
_base_ = ['../_base_/pairs/atss_r101_r50_1x_coco.py']
# which entries and losses: the head; the FPN entry dropped
model = dict(distill=dict(
    neck=None,
    crosskd=dict(
        student='bbox_head', teacher='bbox_head',
        loss=dict(type='mmkd.CrossKDLoss', head_idx=3,
                  loss_cls=dict(type='mmkd.KDQualityFocalLoss', beta=1.0,
                                loss_weight=1.0),
                  loss_reg=dict(type='mmdet.GIoULoss', loss_weight=1.0),
                  loss_ctr=dict(type='mmdet.CrossEntropyLoss',
                                use_sigmoid=True, loss_weight=1.0)))))
