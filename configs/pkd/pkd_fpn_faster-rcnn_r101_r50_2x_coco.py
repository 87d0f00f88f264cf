# PKD (Cao et al., NeurIPS 2022) on FPN levels 0-3 (P2/P3-P5), as the
# published recipe (the fifth, pooled level is not distilled).
# Target (METHODS.md): Faster R-CNN R101 (39.8) -> R50 2x (38.4): 40.3 AP.
# student
_base_ = ['mmdet::faster_rcnn/faster-rcnn_r50_fpn_2x_coco.py',
          '../_base_/mmkd_runtime.py']
# teacher: config + checkpoint (mmdet model zoo)
teacher = dict(
    config='mmdet::faster_rcnn/faster-rcnn_r101_fpn_2x_coco.py',
    checkpoint='https://download.openmmlab.com/mmdetection/v2.0/faster_rcnn/'
    'faster_rcnn_r101_fpn_2x_coco/faster_rcnn_r101_fpn_2x_coco_bbox_mAP-0.398'
    '_20200504_210455-1d2dac9c.pth')
model = dict(
    _delete_=True,
    type='mmkd.SingleTeacherDistiller',
    student=_base_.model,
    teacher=teacher,
    # which layers -> which loss
    distill=[
        dict(student='neck', teacher='neck',
             student_index=[0, 1, 2, 3], teacher_index=[0, 1, 2, 3],
             loss=dict(type='mmkd.PKDLoss', loss_weight=6))
    ])
