# CrossKD + PKD (Wang et al., CVPR 2024): the CrossKD RetinaNet config with
# PKD (weight 2) on the five FPN levels beside the head entry, as CrossKD's
# "+ PKD" config.
# Target (CrossKD's README): RetinaNet R101 2x (38.9) -> R50 2x (37.4):
# 39.8 box AP.
# student, teacher and the CrossKD head entry
_base_ = ['./crosskd_head_retinanet_r101_r50_2x_coco.py']
# the FPN entry: all five levels, PKD
model = dict(distill=dict(neck=dict(
    _delete_=True,  # the base has no FPN entry (None)
    student='neck', teacher='neck',
    loss=dict(type='mmkd.PKDLoss', loss_weight=2.0))))
