# AKD (Avatar Knowledge Distillation, ACM MM 2023) over CWD on the five FPN
# levels: 8 dropout avatars (p = 0.1) of each teacher level, per-channel
# uncertainty. Target (METHODS.md, AvatarKD README):
#   Faster R-CNN R101 (39.8) -> R50 2x (38.4): AKD 40.9 box AP
# student
_base_ = ['mmdet::faster_rcnn/faster-rcnn_r50_fpn_2x_coco.py',
          '../_base_/mmkd_runtime.py']
# teacher: config + checkpoint (mmdet model zoo)
teacher = dict(
    config='mmdet::faster_rcnn/faster-rcnn_r101_fpn_2x_coco.py',
    checkpoint=  # noqa: E501
    'https://download.openmmlab.com/mmdetection/v2.0/faster_rcnn/faster_rcnn_r101_fpn_2x_coco/faster_rcnn_r101_fpn_2x_coco_bbox_mAP-0.398_20200504_210455-1d2dac9c.pth')
model = dict(
    _delete_=True,
    type='mmkd.SingleTeacherDistiller',
    student=_base_.model,
    teacher=teacher,
    # which layers -> which loss
    distill=[
        dict(student='neck', teacher='neck',
             loss=dict(
                 type='mmkd.AvatarLoss',
                 base=dict(type='mmkd.CWDLoss', tau=1.0, loss_weight=10),
                 num_avatars=8,
                 drop_prob=0.1,
                 uncertainty='channel'))
    ])
