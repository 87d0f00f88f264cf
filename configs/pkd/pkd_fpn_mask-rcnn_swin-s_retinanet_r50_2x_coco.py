# PKD (Cao et al., NeurIPS 2022) from a transformer teacher of another
# family and strides, as the published recipe: FPN levels 0-3, student
# level k with teacher level k (strides 8-64 against 4-32), the student
# map resized (bilinear) to the teacher's, weight 6.
# Target (PKD paper / MMRazor): Mask R-CNN Swin-S (48.2) -> RetinaNet R50
# 2x (37.4): 41.5 box AP.
# student, teacher (mmdet model zoo) and the distilled FPN
_base_ = ['../_base_/pairs/mask-rcnn_swin-s_retinanet_r50_2x_coco.py']
# which levels -> how they line up -> which loss
model = dict(distill=dict(neck=dict(
    student_index=[0, 1, 2, 3], teacher_index=[0, 1, 2, 3],
    connector=dict(type='mmkd.ResizeConnector'),
    loss=dict(type='mmkd.PKDLoss', loss_weight=6))))
