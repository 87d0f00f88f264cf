# Pair: toy Segformer MiT-t32 (transformer teacher, logits at 1/4) -> PSPNet
# R18-w16 (student, logits at 1/8) on the synthetic Cityscapes-layout set,
# distilled on the segmentation logits, the student's resized to the
# teacher's. The method configs set the loss (and may add entries).
# student (and the mmkd runner, ../mmkd_runtime.py)
_base_ = ['../../toy/pspnet_r18-w16_shapes-cityscapes.py',
          '../mmkd_runtime.py']
# teacher: config + checkpoint. Train it first:
#   python tools/train.py configs/toy/segformer_mit-t32_shapes-cityscapes.py
teacher = dict(
    config='{{fileDirname}}/../../toy/segformer_mit-t32_shapes-'
    'cityscapes.py',
    checkpoint='work_dirs/segformer_mit-t32_shapes-cityscapes/iter_800.pth')
model = dict(_delete_=True, type='mmkd.SingleTeacherDistiller',
             student=_base_.model, teacher=teacher,
             # which layers -> how they line up: the logits, 1/8 -> 1/4
             distill={'decode_head.conv_seg': dict(
                 student='decode_head.conv_seg',
                 teacher='decode_head.conv_seg',
                 connector=dict(type='mmkd.ResizeConnector'))})
