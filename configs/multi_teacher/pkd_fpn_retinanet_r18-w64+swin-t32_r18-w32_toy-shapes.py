# Toy PKD from two teachers of different families: RetinaNet R18-w64 (all
# five FPN levels) and RetinaNet Swin-t32 (levels 0-3, the student resized
# to the teacher), each at half the weight of its one-teacher config
# (10 and 6), so that the total weight is that of one teacher.
# Train the teachers first:
#   python tools/train.py configs/toy/retinanet_r18-w64_shapes-coco.py
#   python tools/train.py configs/toy/retinanet_swin-t32_shapes-coco.py
# student, teachers, the distilled FPN levels and their connectors
_base_ = ['../_base_/pairs/retinanet_r18-w64+swin-t32_r18-w32_toy-shapes.py']
# which losses
model = dict(distill=dict(
    r18_neck=dict(loss=dict(type='mmkd.PKDLoss', loss_weight=5)),
    swin_neck=dict(loss=dict(type='mmkd.PKDLoss', loss_weight=3))))
