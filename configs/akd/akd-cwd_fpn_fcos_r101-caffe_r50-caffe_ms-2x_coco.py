# AKD (Avatar Knowledge Distillation, ACM MM 2023) over CWD on the five FPN
# levels: 8 dropout avatars (p = 0.1) of each teacher level, per-channel
# uncertainty. Target (METHODS.md, AvatarKD README):
#   FCOS R101 (40.8) -> R50 (38.5): AKD 42.9 box AP
# student
_base_ = ['mmdet::fcos/fcos_r50-caffe_fpn_gn-head_ms-640-800-2x_coco.py',
          '../_base_/mmkd_runtime.py']
# teacher: config + checkpoint (mmdet model zoo)
teacher = dict(
    config='mmdet::fcos/fcos_r101-caffe_fpn_gn-head_ms-640-800-2x_coco.py',
    checkpoint=  # noqa: E501
    'https://download.openmmlab.com/mmdetection/v2.0/fcos/fcos_r101_caffe_fpn_gn-head_mstrain_640-800_2x_coco/fcos_r101_caffe_fpn_gn-head_mstrain_640-800_2x_coco-511424d6.pth')
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
