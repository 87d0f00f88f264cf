# CrossKD (Wang et al., CVPR 2024) on GFL: the student head's features after
# its stacked conv 3 go through the teacher's conv 4 and predictors; the
# cross-head class scores mimic the teacher's by the quality focal loss, the
# box-side distributions by their KL divergence (T = 1, summed over the
# bins, weight 4) weighted by the teacher's max score, as CrossKD's GFL
# config. The FPN is not distilled.
# Target (CrossKD's README): GFL R101 ms-2x (44.9) -> R50 1x (40.2): 43.7
# box AP.
# student, teacher (mmdet model zoo) and the pair's FPN entry
_base_ = ['../_base_/pairs/gfl_r101-ms-2x_r50_1x_coco.py']
# which entries and losses: the head; the FPN entry dropped
model = dict(distill=dict(
    neck=None,
    crosskd=dict(
        student='bbox_head', teacher='bbox_head',
        loss=dict(type='mmkd.CrossKDLoss', head_idx=3,
                  loss_cls=dict(type='mmkd.KDQualityFocalLoss', beta=1.0,
                                loss_weight=1.0),
                  loss_reg=dict(type='mmkd.BoxDistributionKLLoss', T=1.0,
                                class_reduction='sum', loss_weight=4.0)))))
