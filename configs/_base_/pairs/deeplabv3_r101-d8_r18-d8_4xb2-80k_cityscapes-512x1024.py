# Pair: DeepLabV3 R101-D8 (teacher) -> R18-D8 (student) on Cityscapes
# 512 x 1024, 80k iterations, distilled on the segmentation logits. The
# method config (configs/akd/akd-cwd_logits_deeplabv3_r101-d8_r18-d8_4xb2-
# 80k_cityscapes-512x1024.py) sets the loss.
# student (and the mmkd runner, ../mmkd_runtime.py)
_base_ = [
    'mmseg::deeplabv3/deeplabv3_r18-d8_4xb2-80k_cityscapes-512x1024.py',
    '../mmkd_runtime.py'
]
# teacher: config + checkpoint (mmseg model zoo)
teacher = dict(
    config='mmseg::deeplabv3/'
    'deeplabv3_r101-d8_4xb2-80k_cityscapes-512x1024.py',
    checkpoint='https://download.openmmlab.com/mmsegmentation/v0.5/'
    'deeplabv3/deeplabv3_r101-d8_512x1024_80k_cityscapes/'
    'deeplabv3_r101-d8_512x1024_80k_cityscapes_20200606_113503-9e428899.pth')
model = dict(_delete_=True, type='mmkd.SingleTeacherDistiller',
             student=_base_.model, teacher=teacher,
             # which layers: the logits
             distill={'decode_head.conv_seg': dict(
                 student='decode_head.conv_seg',
                 teacher='decode_head.conv_seg')})
