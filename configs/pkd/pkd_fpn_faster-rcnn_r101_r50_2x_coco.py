# PKD (Cao et al., NeurIPS 2022) on FPN levels 0-3 (P2/P3-P5), as the
# published recipe (the fifth, pooled level is not distilled).
# Target (METHODS.md): Faster R-CNN R101 (39.8) -> R50 2x (38.4): 40.3 AP.
# student, teacher (mmdet model zoo) and the distilled FPN
_base_ = ['../_base_/pairs/faster-rcnn_r101_r50_2x_coco.py']
# which levels (0-3) and loss
model = dict(distill=dict(neck=dict(
    student_index=[0, 1, 2, 3], teacher_index=[0, 1, 2, 3],
    loss=dict(type='mmkd.PKDLoss', loss_weight=6))))
