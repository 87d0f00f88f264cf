# PKD (Cao et al., NeurIPS 2022) on FPN levels 0-3 (P2/P3-P5), as the
# published recipe (the fifth, pooled level is not distilled).
# Target (METHODS.md): RetinaNet X101 (41.0) -> R50 2x (37.4): 40.8 box AP.
# student
_base_ = ['mmdet::retinanet/retinanet_r50_fpn_2x_coco.py',
          '../_base_/mmkd_runtime.py']
# teacher: config + checkpoint (mmdet model zoo)
teacher = dict(
    config='mmdet::retinanet/retinanet_x101-64x4d_fpn_1x_coco.py',
    checkpoint='https://download.openmmlab.com/mmdetection/v2.0/retinanet/'
    'retinanet_x101_64x4d_fpn_1x_coco/'
    'retinanet_x101_64x4d_fpn_1x_coco_20200130-366f5af1.pth')
model = dict(
    _delete_=True,
    type='mmkd.SingleTeacherDistiller',
    student=_base_.model,
    teacher=teacher,
    # which layers -> which loss
    distill=[
        dict(student='neck', teacher='neck',
             student_index=[0, 1, 2, 3], teacher_index=[0, 1, 2, 3],
             loss=dict(type='mmkd.PKDLoss', loss_weight=10))
    ])
