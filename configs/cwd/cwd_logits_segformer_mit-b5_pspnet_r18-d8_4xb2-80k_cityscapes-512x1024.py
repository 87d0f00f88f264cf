# CWD (Shu et al., ICCV 2021) on the segmentation logits from a transformer
# teacher (the MMRazor #367 case): Segformer MiT-B5 -> PSPNet R18-D8, the
# student's 1/8 logits resized to the teacher's 1/4; tau 1, weight 5 as
# the PSPNet R101 recipe. No published number for this pair.
# student, teacher (mmseg model zoo) and the distilled logits
_base_ = [
    '../_base_/pairs/segformer_mit-b5_pspnet_r18-d8_4xb2-80k_cityscapes-'
    '512x1024.py'
]
# which loss
model = dict(distill={'decode_head.conv_seg': dict(
    loss=dict(type='mmkd.CWDLoss', tau=1.0, loss_weight=5))})
