# PKD (Cao et al., NeurIPS 2022) on FPN levels 0-3 (P2/P3-P5), as the
# published recipe (the fifth, pooled level is not distilled).
# Target (METHODS.md): RetinaNet X101 (41.0) -> R50 2x (37.4): 40.8 box AP.
# student, teacher (mmdet model zoo) and the distilled FPN
_base_ = ['../_base_/pairs/retinanet_x101-64x4d_r50_2x_coco.py']
# which levels (0-3) and loss
model = dict(distill=dict(neck=dict(
    student_index=[0, 1, 2, 3], teacher_index=[0, 1, 2, 3],
    loss=dict(type='mmkd.PKDLoss', loss_weight=10))))
