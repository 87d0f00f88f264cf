# Toy AKD over CWD: RetinaNet R18-w64 -> R18-w32 on the synthetic shapes set,
# the five FPN levels (64 -> 128 channels through a connector per level),
# 8 dropout avatars (p = 0.1), per-channel uncertainty.
# Train the teacher first:
#   python tools/train.py configs/toy/retinanet_r18-w64_shapes-coco.py
# the toy CWD config: student, teacher, FPN levels + connectors, CWD loss
_base_ = ['../cwd/cwd_fpn_retinanet_r18-w64_r18-w32_toy-shapes.py']
# which loss: that CWD loss under 8 dropout avatars
model = dict(distill=dict(neck=dict(loss=dict(
    _delete_=True, type='mmkd.AvatarLoss',
    base=_base_.model.distill.neck.loss,
    num_avatars=8, drop_prob=0.1, uncertainty='channel'))))
