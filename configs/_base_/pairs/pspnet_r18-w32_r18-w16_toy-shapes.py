# Pair: toy PSPNet R18-w32 (teacher) -> R18-w16 (student) on the synthetic
# Cityscapes-layout set, distilled on the segmentation logits. The method
# configs (configs/{akd,cwd}/*_logits_pspnet_r18-w32_r18-w16_toy-shapes.py)
# set the loss.
# student (and the mmkd runner, ../mmkd_runtime.py)
_base_ = ['../../toy/pspnet_r18-w16_shapes-cityscapes.py',
          '../mmkd_runtime.py']
# teacher: config + checkpoint. Train it first:
#   python tools/train.py configs/toy/pspnet_r18-w32_shapes-cityscapes.py
teacher = dict(
    config='{{fileDirname}}/../../toy/pspnet_r18-w32_shapes-cityscapes.py',
    checkpoint='work_dirs/pspnet_r18-w32_shapes-cityscapes/iter_800.pth')
model = dict(_delete_=True, type='mmkd.SingleTeacherDistiller',
             student=_base_.model, teacher=teacher,
             # which layers: the logits
             distill={'decode_head.conv_seg': dict(
                 student='decode_head.conv_seg',
                 teacher='decode_head.conv_seg')})
