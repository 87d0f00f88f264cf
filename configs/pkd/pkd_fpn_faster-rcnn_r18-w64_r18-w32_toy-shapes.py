# Toy PKD: Faster R-CNN R18-w64 -> R18-w32 on the synthetic shapes set, the
# five FPN levels (64 -> 128 channels through a connector per level).
# Train the teacher first:
#   python tools/train.py configs/toy/faster-rcnn_r18-w64_shapes-coco.py
# student, teacher, the distilled FPN levels and their connectors
_base_ = ['../_base_/pairs/faster-rcnn_r18-w64_r18-w32_toy-shapes.py']
# which loss
model = dict(distill=dict(neck=dict(
    loss=dict(type='mmkd.PKDLoss', loss_weight=6))))
