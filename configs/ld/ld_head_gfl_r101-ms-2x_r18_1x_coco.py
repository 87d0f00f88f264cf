# LD (Zheng et al., CVPR 2022, localization distillation) on GFL, as mmdet's
# LD config: the student head's own box-side distributions mimic the
# teacher's (KL divergence, T = 10, averaged over the bins, weight 0.25) at
# the positives of the student's assignment, weighted by the student's max
# class score, each level over 4 and not divided by the weights' sum
# (mmdet's LDHead loss_ld); no class-score term. The FPN is not distilled.
# Target (mmdet's LD README): GFL R101 ms-2x (44.7) -> R18 1x (35.8): 36.5
# box AP.
# student (GFL R18), teacher (mmdet model zoo) and the pair's FPN entry
_base_ = ['../_base_/pairs/gfl_r101-ms-2x_r18_1x_coco.py']
# which entries and losses: the head; the FPN entry dropped
model = dict(distill=dict(
    neck=None,
    ld=dict(
        student='bbox_head', teacher='bbox_head',
        loss=dict(type='mmkd.PredictionMimicLoss', loss_cls=None,
                  loss_reg=dict(type='mmkd.BoxDistributionKLLoss', T=10.0,
                                class_reduction='mean', loss_weight=0.25),
                  reg_weight='student', reg_region='positive',
                  distribution_norm='none'))))
