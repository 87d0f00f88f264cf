# Pair: ATSS R101 1x (teacher, 41.5 box AP) -> R50 1x (student, 39.4) on
# COCO, with the FPN entry. The method configs
# (configs/crosskd/*_atss_r101_r50_1x_coco.py) distil the head and set the
# FPN loss or drop it.
# student (and the mmkd runner, ../mmkd_runtime.py)
_base_ = ['mmdet::atss/atss_r50_fpn_1x_coco.py', '../mmkd_runtime.py']
# teacher: config + checkpoint (mmdet model zoo)
teacher = dict(
    config='mmdet::atss/atss_r101_fpn_1x_coco.py',
    checkpoint='https://download.openmmlab.com/mmdetection/v2.0/atss/'
    'atss_r101_fpn_1x_coco/atss_r101_fpn_1x_20200825-dfcadd6f.pth')
model = dict(_delete_=True, type='mmkd.SingleTeacherDistiller',
             student=_base_.model, teacher=teacher,
             # which layers: the FPN
             distill=dict(neck=dict(student='neck', teacher='neck')))
