# AKD (Avatar Knowledge Distillation, ACM MM 2023) over CWD on the
# segmentation logits: 8 dropout avatars (p = 0.1), per-channel uncertainty.
# Target (METHODS.md): DeepLabV3 R101 -> R18; AKD: up to +1.83 mIoU over
# the base (abstract)
# student, teacher (mmseg model zoo) and the distilled logits
_base_ = [
    '../_base_/pairs/deeplabv3_r101-d8_r18-d8_4xb2-80k_cityscapes-512x1024.py'
]
# which loss: CWD under 8 dropout avatars
model = dict(distill={'decode_head.conv_seg': dict(loss=dict(
    type='mmkd.AvatarLoss',
    base=dict(type='mmkd.CWDLoss', tau=1.0, loss_weight=5),
    num_avatars=8, drop_prob=0.1, uncertainty='channel'))})
