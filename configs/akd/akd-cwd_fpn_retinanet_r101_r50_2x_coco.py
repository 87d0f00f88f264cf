# AKD (Avatar Knowledge Distillation, ACM MM 2023) over CWD on the five FPN
# levels: 8 dropout avatars (p = 0.1) of each teacher level, per-channel
# uncertainty. Target (METHODS.md, AvatarKD README):
#   RetinaNet R101 (38.9) -> R50 2x (37.4): AKD 40.3 box AP
# student
_base_ = ['mmdet::retinanet/retinanet_r50_fpn_2x_coco.py',
          '../_base_/mmkd_runtime.py']
# teacher: config + checkpoint (mmdet model zoo)
teacher = dict(
    config='mmdet::retinanet/retinanet_r101_fpn_2x_coco.py',
    checkpoint=  # noqa: E501
    'https://download.openmmlab.com/mmdetection/v2.0/retinanet/retinanet_r101_fpn_2x_coco/retinanet_r101_fpn_2x_coco_20200131-5560aee8.pth')
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
