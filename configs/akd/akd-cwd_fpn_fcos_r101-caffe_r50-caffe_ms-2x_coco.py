# AKD (Avatar Knowledge Distillation, ACM MM 2023) over CWD on the five FPN
# levels: 8 dropout avatars (p = 0.1) of each teacher level, per-channel
# uncertainty. Target (METHODS.md, AvatarKD README):
#   FCOS R101 (40.8) -> R50 (38.5): AKD 42.9 box AP
# student, teacher (mmdet model zoo) and the distilled FPN levels
_base_ = ['../_base_/pairs/fcos_r101-caffe_r50-caffe_ms-2x_coco.py']
# which loss: CWD under 8 dropout avatars
model = dict(distill=dict(neck=dict(loss=dict(
    type='mmkd.AvatarLoss',
    base=dict(type='mmkd.CWDLoss', tau=1.0, loss_weight=10),
    num_avatars=8, drop_prob=0.1, uncertainty='channel'))))
