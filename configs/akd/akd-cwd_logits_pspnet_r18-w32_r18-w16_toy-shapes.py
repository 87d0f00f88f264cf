# Toy AKD over CWD: PSPNet R18-w32 -> R18-w16 on the synthetic
# Cityscapes-layout set, on the segmentation logits; 8 dropout avatars
# (p = 0.1), per-channel uncertainty. Train the teacher first:
#   python tools/train.py configs/toy/pspnet_r18-w32_shapes-cityscapes.py
# the toy CWD config: student, teacher, logits, CWD loss
_base_ = ['../cwd/cwd_logits_pspnet_r18-w32_r18-w16_toy-shapes.py']
# which loss: that CWD loss under 8 dropout avatars
model = dict(distill={'decode_head.conv_seg': dict(loss=dict(
    _delete_=True, type='mmkd.AvatarLoss',
    base=_base_.model.distill['decode_head.conv_seg'].loss,
    num_avatars=8, drop_prob=0.1, uncertainty='channel'))})
