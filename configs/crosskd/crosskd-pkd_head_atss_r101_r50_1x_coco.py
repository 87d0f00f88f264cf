# CrossKD + PKD (Wang et al., CVPR 2024): the CrossKD ATSS config with PKD
# (weight 1) on the five FPN levels beside the head entry, as CrossKD's
# "+ PKD" config.
# Target (CrossKD's README): ATSS R101 1x (41.5) -> R50 1x (39.4): 41.8 box
# AP.
# student, teacher and the CrossKD head entry
_base_ = ['./crosskd_head_atss_r101_r50_1x_coco.py']
# the FPN entry: all five levels, PKD
model = dict(distill=dict(neck=dict(
    _delete_=True,  # the base has no FPN entry (None)
    student='neck', teacher='neck',
    loss=dict(type='mmkd.PKDLoss', loss_weight=1.0))))
