# Pair: Faster R-CNN R101 (teacher, 39.8 box AP) -> R50 2x (student, 38.4) on
# COCO, distilled on the FPN levels. The method configs
# (configs/{akd,lsh,pkd}/*_faster-rcnn_r101_r50_2x_coco.py) set the levels
# and the loss; LSH distils the box head instead.
# student (and the mmkd runner, ../mmkd_runtime.py)
_base_ = ['mmdet::faster_rcnn/faster-rcnn_r50_fpn_2x_coco.py',
          '../mmkd_runtime.py']
# teacher: config + checkpoint (mmdet model zoo)
teacher = dict(
    config='mmdet::faster_rcnn/faster-rcnn_r101_fpn_2x_coco.py',
    checkpoint='https://download.openmmlab.com/mmdetection/v2.0/faster_rcnn/'
    'faster_rcnn_r101_fpn_2x_coco/faster_rcnn_r101_fpn_2x_coco_bbox_mAP-0.398'
    '_20200504_210455-1d2dac9c.pth')
model = dict(_delete_=True, type='mmkd.SingleTeacherDistiller',
             student=_base_.model, teacher=teacher,
             # which layers: the FPN
             distill=dict(neck=dict(student='neck', teacher='neck')))
