# Pair: RetinaNet R101 (teacher, 38.9 box AP) -> R50 2x (student, 37.4) on
# COCO, distilled on the FPN levels. The method configs
# (configs/{akd,lsh}/*_retinanet_r101_r50_2x_coco.py) set the loss; LSH
# distils a head conv instead, CrossKD (configs/crosskd/*_retinanet_r101_
# r50_2x_coco.py) the head's predictions, with or without the FPN.
# student (and the mmkd runner, ../mmkd_runtime.py)
_base_ = ['mmdet::retinanet/retinanet_r50_fpn_2x_coco.py',
          '../mmkd_runtime.py']
# teacher: config + checkpoint (mmdet model zoo)
teacher = dict(
    config='mmdet::retinanet/retinanet_r101_fpn_2x_coco.py',
    checkpoint='https://download.openmmlab.com/mmdetection/v2.0/retinanet/'
    'retinanet_r101_fpn_2x_coco/'
    'retinanet_r101_fpn_2x_coco_20200131-5560aee8.pth')
model = dict(_delete_=True, type='mmkd.SingleTeacherDistiller',
             student=_base_.model, teacher=teacher,
             # which layers: the FPN
             distill=dict(neck=dict(student='neck', teacher='neck')))
