# PKD (Cao et al., NeurIPS 2022) from the mean of two teachers, RetinaNet
# R101 and X101-64x4d, to RetinaNet R50 2x: FPN levels 0-3 as PKD's
# RetinaNet recipe, weight 10. No published number: the one-teacher targets
# are X101 -> R50 40.8 (configs/pkd) and the teachers 38.9 / 41.0.
# student, teachers (mmdet model zoo) and the ensembled FPN levels
_base_ = ['../_base_/pairs/retinanet_r101+x101-64x4d_r50_2x_coco.py']
# which ensemble and loss
model = dict(distill=dict(neck=dict(
    ensemble='mean', loss=dict(type='mmkd.PKDLoss', loss_weight=10))))
