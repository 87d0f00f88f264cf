# Pair: RetinaNet X101-64x4d (teacher, 41.0 box AP) -> R50 2x (student, 37.4)
# on COCO, distilled on the FPN levels. The method configs
# (configs/{akd,fgd,fitnets,mgd,pkd}/*_fpn_retinanet_x101-64x4d_r50_2x_coco.py)
# set the levels, the connectors and the loss.
# student (and the mmkd runner, ../mmkd_runtime.py)
_base_ = ['mmdet::retinanet/retinanet_r50_fpn_2x_coco.py',
          '../mmkd_runtime.py',
          '../teachers/retinanet_x101-64x4d_coco.py']  # the teacher
model = dict(_delete_=True, type='mmkd.SingleTeacherDistiller',
             student=_base_.model, teacher=_base_.x101_teacher,
             # which layers: the FPN
             distill=dict(neck=dict(student='neck', teacher='neck')))
