# AKD (Avatar Knowledge Distillation, ACM MM 2023) over CWD on the five FPN
# levels: 8 dropout avatars (p = 0.1) of each teacher level, per-channel
# uncertainty. Target (METHODS.md, AvatarKD README):
#   RepPoints X101-DCN (44.2) -> R50 2x (38.6): AKD 42.8 box AP
# student, teacher (mmdet model zoo) and the distilled FPN levels
_base_ = ['../_base_/pairs/reppoints-moment_x101-dconv_r50_2x_coco.py']
# which loss: CWD (weight 7.5) under 8 dropout avatars
model = dict(distill=dict(neck=dict(loss=dict(
    type='mmkd.AvatarLoss',
    base=dict(type='mmkd.CWDLoss', tau=1.0, loss_weight=7.5),
    num_avatars=8, drop_prob=0.1, uncertainty='channel'))))
