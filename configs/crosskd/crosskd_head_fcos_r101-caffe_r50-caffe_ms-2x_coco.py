# CrossKD (Wang et al., CVPR 2024) on FCOS: the student head's features
# after its stacked conv 2 go through the teacher's convs 3-4 and
# predictors; the cross-head class scores mimic the teacher's by the quality
# focal loss (weight 0.4), the decoded boxes by the IoU loss (weight 0.75)
# weighted by the teacher's max score, no centerness term, both over the
# sum of the positives' centerness targets, as CrossKD's FCOS config. The
# FPN is not distilled.
# Target (CrossKD's README): FCOS R101-caffe ms-2x (40.8) -> R50-caffe
# ms-2x (38.5): 41.1 box AP.
# student, teacher (mmdet model zoo) and the pair's FPN entry
_base_ = ['../_base_/pairs/fcos_r101-caffe_r50-caffe_ms-2x_coco.py']
# which entries and losses: the head; the FPN entry dropped
model = dict(distill=dict(
    neck=None,
    crosskd=dict(
        student='bbox_head', teacher='bbox_head',
        loss=dict(type='mmkd.CrossKDLoss', head_idx=2,
                  loss_cls=dict(type='mmkd.KDQualityFocalLoss', beta=1.0,
                                loss_weight=0.4),
                  loss_reg=dict(type='mmdet.IoULoss', loss_weight=0.75)))))
