# Pair: RetinaNet X101-64x4d (teacher, 41.0 box AP) -> R50 2x (student, 37.4)
# on COCO, distilled on the FPN levels. The method configs
# (configs/{akd,fgd,fitnets,mgd,pkd}/*_fpn_retinanet_x101-64x4d_r50_2x_coco.py)
# set the levels, the connectors and the loss.
# student (and the mmkd runner, ../mmkd_runtime.py)
_base_ = ['mmdet::retinanet/retinanet_r50_fpn_2x_coco.py',
          '../mmkd_runtime.py']
# teacher: config + checkpoint (mmdet model zoo)
teacher = dict(
    config='mmdet::retinanet/retinanet_x101-64x4d_fpn_1x_coco.py',
    checkpoint='https://download.openmmlab.com/mmdetection/v2.0/retinanet/'
    'retinanet_x101_64x4d_fpn_1x_coco/'
    'retinanet_x101_64x4d_fpn_1x_coco_20200130-366f5af1.pth')
model = dict(_delete_=True, type='mmkd.SingleTeacherDistiller',
             student=_base_.model, teacher=teacher,
             # which layers: the FPN
             distill=dict(neck=dict(student='neck', teacher='neck')))
