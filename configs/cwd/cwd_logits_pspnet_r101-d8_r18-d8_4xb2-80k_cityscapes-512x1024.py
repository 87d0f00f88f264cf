# CWD (Shu et al., ICCV 2021) on the segmentation logits.
# Target (METHODS.md): PSPNet R101 (79.76) -> R18 (74.87): 75.54 mIoU.
# student
_base_ = ['mmseg::pspnet/pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py',
          '../_base_/mmkd_runtime.py']
# teacher: config + checkpoint (mmseg model zoo)
teacher = dict(
    config='mmseg::pspnet/pspnet_r101-d8_4xb2-80k_cityscapes-512x1024.py',
    checkpoint='https://download.openmmlab.com/mmsegmentation/v0.5/pspnet/'
    'pspnet_r101-d8_512x1024_80k_cityscapes/'
    'pspnet_r101-d8_512x1024_80k_cityscapes_20200606_112211-e1e1100f.pth')
model = dict(
    _delete_=True,
    type='mmkd.SingleTeacherDistiller',
    student=_base_.model,
    teacher=teacher,
    # which layers -> which loss
    distill=[
        dict(student='decode_head.conv_seg', teacher='decode_head.conv_seg',
             loss=dict(type='mmkd.CWDLoss', tau=1.0, loss_weight=5))
    ])
