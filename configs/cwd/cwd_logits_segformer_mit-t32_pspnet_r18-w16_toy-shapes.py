# Toy CWD from a transformer teacher: Segformer MiT-t32 -> PSPNet R18-w16
# on the synthetic Cityscapes-layout set, on the segmentation logits (the
# student's 1/8 logits resized to the teacher's 1/4; tau 1, weight 5 as
# the Cityscapes recipe).
# Train the teacher first:
#   python tools/train.py configs/toy/segformer_mit-t32_shapes-cityscapes.py
# student, teacher and the distilled logits
_base_ = ['../_base_/pairs/segformer_mit-t32_pspnet_r18-w16_toy-shapes.py']
# which loss
model = dict(distill={'decode_head.conv_seg': dict(
    loss=dict(type='mmkd.CWDLoss', tau=1.0, loss_weight=5))})
