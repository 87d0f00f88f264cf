# Toy CWD: PSPNet R18-w32 -> R18-w16 on the synthetic Cityscapes-layout set,
# on the segmentation logits (tau 1, weight 5 as the Cityscapes recipe).
# Train the teacher first:
#   python tools/train.py configs/toy/pspnet_r18-w32_shapes-cityscapes.py
# student
_base_ = ['../toy/pspnet_r18-w16_shapes-cityscapes.py',
          '../_base_/mmkd_runtime.py']
# teacher: config + checkpoint
teacher = dict(
    config='{{fileDirname}}/../toy/pspnet_r18-w32_shapes-cityscapes.py',
    checkpoint='work_dirs/pspnet_r18-w32_shapes-cityscapes/iter_800.pth')
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
