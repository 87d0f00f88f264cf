# AKD (Avatar Knowledge Distillation, ACM MM 2023) over CWD on the five FPN
# levels: 8 dropout avatars (p = 0.1) of each teacher level, per-channel
# uncertainty. Target (METHODS.md, AvatarKD README):
#   RetinaNet X101 (41.0) -> R50 2x (37.4): AKD 41.5 box AP
# student
_base_ = ['mmdet::retinanet/retinanet_r50_fpn_2x_coco.py',
          '../_base_/mmkd_runtime.py']
# teacher: config + checkpoint (mmdet model zoo)
teacher = dict(
    config='mmdet::retinanet/retinanet_x101-64x4d_fpn_1x_coco.py',
    checkpoint=  # noqa: E501
    'https://download.openmmlab.com/mmdetection/v2.0/retinanet/retinanet_x101_64x4d_fpn_1x_coco/retinanet_x101_64x4d_fpn_1x_coco_20200130-366f5af1.pth')
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
