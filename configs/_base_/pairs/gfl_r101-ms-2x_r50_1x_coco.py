# Pair: GFL R101 multi-scale 2x (teacher, 44.9 box AP in CrossKD's table;
# mmdet's model zoo lists 44.7) -> GFL R50 1x (student, 40.2) on COCO,
# with the FPN entry. The method configs
# (configs/crosskd/*_gfl_r101-ms-2x_r50_1x_coco.py) distil the head and
# set the FPN loss or drop it; the LD pair
# (gfl_r101-ms-2x_r18_1x_coco.py) reuses this teacher.
# student (and the mmkd runner, ../mmkd_runtime.py)
_base_ = ['mmdet::gfl/gfl_r50_fpn_1x_coco.py', '../mmkd_runtime.py']
# teacher: config + checkpoint (mmdet model zoo)
teacher = dict(
    config='mmdet::gfl/gfl_r101_fpn_ms-2x_coco.py',
    checkpoint='https://download.openmmlab.com/mmdetection/v2.0/gfl/'
    'gfl_r101_fpn_mstrain_2x_coco/'
    'gfl_r101_fpn_mstrain_2x_coco_20200629_200126-dd12f847.pth')
model = dict(_delete_=True, type='mmkd.SingleTeacherDistiller',
             student=_base_.model, teacher=teacher,
             # which layers: the FPN
             distill=dict(neck=dict(student='neck', teacher='neck')))
