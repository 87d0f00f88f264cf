# CrossKD + PKD (Wang et al., CVPR 2024): the CrossKD FCOS config with PKD
# (weight 2) on the five FPN levels beside the head entry, as CrossKD's
# "+ PKD" config.
# Target (CrossKD's README): FCOS R101-caffe ms-2x (40.8) -> R50-caffe
# ms-2x (38.5): 41.3 box AP.
# student, teacher and the CrossKD head entry
_base_ = ['./crosskd_head_fcos_r101-caffe_r50-caffe_ms-2x_coco.py']
# the FPN entry: all five levels, PKD
model = dict(distill=dict(neck=dict(
    _delete_=True,  # the base has no FPN entry (None)
    student='neck', teacher='neck',
    loss=dict(type='mmkd.PKDLoss', loss_weight=2.0))))
