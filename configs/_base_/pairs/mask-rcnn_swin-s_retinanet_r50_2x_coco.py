# Pair: Mask R-CNN Swin-S 3x (transformer teacher, 48.2 box AP, FPN strides
# 4-64) -> RetinaNet R50 2x (student, 37.4, FPN strides 8-128) on COCO,
# distilled on the FPN. The method configs
# (configs/{akd,pkd}/*_fpn_mask-rcnn_swin-s_retinanet_r50_2x_coco.py) set
# the levels, their alignment and the loss.
# student (and the mmkd runner, ../mmkd_runtime.py)
_base_ = ['mmdet::retinanet/retinanet_r50_fpn_2x_coco.py',
          '../mmkd_runtime.py']
# teacher: config + checkpoint (mmdet model zoo)
teacher = dict(
    config='mmdet::swin/mask-rcnn_swin-s-p4-w7_fpn_amp-ms-crop-3x_coco.py',
    checkpoint='https://download.openmmlab.com/mmdetection/v2.0/swin/'
    'mask_rcnn_swin-s-p4-w7_fpn_fp16_ms-crop-3x_coco/'
    'mask_rcnn_swin-s-p4-w7_fpn_fp16_ms-crop-3x_coco_20210903_104808-'
    'b92c91f1.pth')
model = dict(_delete_=True, type='mmkd.SingleTeacherDistiller',
             student=_base_.model, teacher=teacher,
             # which layers: the FPN
             distill=dict(neck=dict(student='neck', teacher='neck')))
