# Pair: Segformer MiT-B5 (transformer teacher, 82.25 mIoU, logits at 1/4)
# -> PSPNet R18-D8 (student, 74.87, logits at 1/8) on Cityscapes
# 512 x 1024, 80k iterations, distilled on the segmentation logits, the
# student's resized (bilinear) to the teacher's. The method configs
# (configs/cwd/cwd_logits_segformer_mit-b5_pspnet_r18-d8_4xb2-80k_
# cityscapes-512x1024.py) set the loss.
# student (and the mmkd runner, ../mmkd_runtime.py)
_base_ = ['mmseg::pspnet/pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py',
          '../mmkd_runtime.py']
# teacher: config + checkpoint (mmseg model zoo)
teacher = dict(
    config='mmseg::segformer/segformer_mit-b5_8xb1-160k_cityscapes-'
    '1024x1024.py',
    checkpoint='https://download.openmmlab.com/mmsegmentation/v0.5/'
    'segformer/segformer_mit-b5_8x1_1024x1024_160k_cityscapes/'
    'segformer_mit-b5_8x1_1024x1024_160k_cityscapes_20211206_072934-'
    '87a052ec.pth')
model = dict(_delete_=True, type='mmkd.SingleTeacherDistiller',
             student=_base_.model, teacher=teacher,
             # which layers -> how they line up: the logits, 1/8 -> 1/4
             distill={'decode_head.conv_seg': dict(
                 student='decode_head.conv_seg',
                 teacher='decode_head.conv_seg',
                 connector=dict(type='mmkd.ResizeConnector'))})
