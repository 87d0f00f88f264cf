# AKD (Avatar Knowledge Distillation, ACM MM 2023) over CWD on the
# segmentation logits: 8 dropout avatars (p = 0.1), per-channel uncertainty.
# Target (METHODS.md): PSPNet R101 (79.76) -> R18 (74.87); CWD alone 75.54
# mIoU; AKD: up to +1.83 mIoU over the base (abstract)
# the CWD config: student, teacher (mmseg model zoo), logits, CWD loss
_base_ = [
    '../cwd/cwd_logits_pspnet_r101-d8_r18-d8_4xb2-80k_cityscapes-512x1024.py'
]
# which loss: that CWD loss under 8 dropout avatars
model = dict(distill={'decode_head.conv_seg': dict(loss=dict(
    _delete_=True, type='mmkd.AvatarLoss',
    base=_base_.model.distill['decode_head.conv_seg'].loss,
    num_avatars=8, drop_prob=0.1, uncertainty='channel'))})
