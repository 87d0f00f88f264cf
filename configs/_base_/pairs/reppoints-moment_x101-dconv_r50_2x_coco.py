# Pair: RepPoints (moment) X101-DCN (teacher, 44.2 box AP) -> R50 2x
# (student, 38.6) on COCO, distilled on the FPN levels. The method config
# (configs/akd/akd-cwd_fpn_reppoints-moment_x101-dconv_r50_2x_coco.py) sets
# the loss.
# student (and the mmkd runner, ../mmkd_runtime.py)
_base_ = [
    'mmdet::reppoints/reppoints-moment_r50_fpn-gn_head-gn_2x_coco.py',
    '../mmkd_runtime.py'
]
# teacher: config + checkpoint (mmdet model zoo)
teacher = dict(
    config='mmdet::reppoints/'
    'reppoints-moment_x101-dconv-c3-c5_fpn-gn_head-gn_2x_coco.py',
    checkpoint='https://download.openmmlab.com/mmdetection/v2.0/reppoints/'
    'reppoints_moment_x101_fpn_dconv_c3-c5_gn-neck%2Bhead_2x_coco/'
    'reppoints_moment_x101_fpn_dconv_c3-c5_gn-neck%2Bhead_2x_coco_'
    '20200329-f87da1ea.pth')
model = dict(_delete_=True, type='mmkd.SingleTeacherDistiller',
             student=_base_.model, teacher=teacher,
             # which layers: the FPN
             distill=dict(neck=dict(student='neck', teacher='neck')))
