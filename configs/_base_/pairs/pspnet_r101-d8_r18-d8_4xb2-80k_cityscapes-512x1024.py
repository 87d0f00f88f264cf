# Pair: PSPNet R101-D8 (teacher, 79.76 mIoU) -> R18-D8 (student, 74.87) on
# Cityscapes 512 x 1024, 80k iterations, distilled on the segmentation
# logits. The method configs (configs/{akd,cwd}/*_logits_pspnet_r101-d8_
# r18-d8_4xb2-80k_cityscapes-512x1024.py) set the loss.
# student (and the mmkd runner, ../mmkd_runtime.py)
_base_ = ['mmseg::pspnet/pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py',
          '../mmkd_runtime.py']
# teacher: config + checkpoint (mmseg model zoo)
teacher = dict(
    config='mmseg::pspnet/pspnet_r101-d8_4xb2-80k_cityscapes-512x1024.py',
    checkpoint='https://download.openmmlab.com/mmsegmentation/v0.5/pspnet/'
    'pspnet_r101-d8_512x1024_80k_cityscapes/'
    'pspnet_r101-d8_512x1024_80k_cityscapes_20200606_112211-e1e1100f.pth')
model = dict(_delete_=True, type='mmkd.SingleTeacherDistiller',
             student=_base_.model, teacher=teacher,
             # which layers: the logits
             distill={'decode_head.conv_seg': dict(
                 student='decode_head.conv_seg',
                 teacher='decode_head.conv_seg')})
