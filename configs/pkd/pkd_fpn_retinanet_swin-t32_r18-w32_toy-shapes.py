# Toy PKD from a transformer teacher: RetinaNet Swin-t32 -> R18-w32 on the
# synthetic shapes set, FPN levels 0-3 (strides 4-32 against 8-64, the
# student resized to the teacher), weight 6 as PKD's Swin recipe.
# Train the teacher first:
#   python tools/train.py configs/toy/retinanet_swin-t32_shapes-coco.py
# student, teacher, the paired FPN levels and their alignment
_base_ = ['../_base_/pairs/retinanet_swin-t32_r18-w32_toy-shapes.py']
# which loss
model = dict(distill=dict(neck=dict(
    loss=dict(type='mmkd.PKDLoss', loss_weight=6))))
