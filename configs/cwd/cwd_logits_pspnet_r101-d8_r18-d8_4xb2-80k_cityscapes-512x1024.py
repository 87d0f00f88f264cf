# CWD (Shu et al., ICCV 2021) on the segmentation logits.
# Target (METHODS.md): PSPNet R101 (79.76) -> R18 (74.87): 75.54 mIoU.
# student, teacher (mmseg model zoo) and the distilled logits
_base_ = [
    '../_base_/pairs/pspnet_r101-d8_r18-d8_4xb2-80k_cityscapes-512x1024.py'
]
# which loss
model = dict(distill={'decode_head.conv_seg': dict(
    loss=dict(type='mmkd.CWDLoss', tau=1.0, loss_weight=5))})
