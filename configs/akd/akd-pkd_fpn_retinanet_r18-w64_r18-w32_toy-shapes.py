# Toy AKD over PKD: RetinaNet R18-w64 -> R18-w32 on the synthetic shapes set,
# the five FPN levels (64 -> 128 channels through a connector per level),
# 8 dropout avatars (p = 0.1), per-channel uncertainty.
# Train the teacher first:
#   python tools/train.py configs/toy/retinanet_r18-w64_shapes-coco.py
# student
_base_ = ['../toy/retinanet_r18-w32_shapes-coco.py',
          '../_base_/mmkd_runtime.py']
# teacher: config + checkpoint
teacher = dict(
    config='{{fileDirname}}/../toy/retinanet_r18-w64_shapes-coco.py',
    checkpoint='work_dirs/retinanet_r18-w64_shapes-coco/epoch_24.pth')
model = dict(
    _delete_=True,
    type='mmkd.SingleTeacherDistiller',
    student=_base_.model,
    teacher=teacher,
    # which layers -> connector -> which loss
    distill=[
        dict(student='neck', teacher='neck', num_levels=5,
             connector=dict(type='mmkd.ConvConnector', in_channels=64,
                            out_channels=128),
             loss=dict(
                 type='mmkd.AvatarLoss',
                 base=dict(type='mmkd.PKDLoss', loss_weight=10),
                 num_avatars=8,
                 drop_prob=0.1,
                 uncertainty='channel'))
    ])
