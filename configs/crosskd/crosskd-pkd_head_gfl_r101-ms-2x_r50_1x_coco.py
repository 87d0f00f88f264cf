# CrossKD + PKD (Wang et al., CVPR 2024): the CrossKD GFL config with PKD
# (weight 6) on the five FPN levels beside the head entry, as CrossKD's
# "+ PKD" config.
# Target (CrossKD's README): GFL R101 ms-2x (44.9) -> R50 1x (40.2): 43.9
# box AP.
# student, teacher and the CrossKD head entry
_base_ = ['./crosskd_head_gfl_r101-ms-2x_r50_1x_coco.py']
# the FPN entry: all five levels, PKD
model = dict(distill=dict(neck=dict(
    _delete_=True,  # the base has no FPN entry (None)
    student='neck', teacher='neck',
    loss=dict(type='mmkd.PKDLoss', loss_weight=6.0))))
