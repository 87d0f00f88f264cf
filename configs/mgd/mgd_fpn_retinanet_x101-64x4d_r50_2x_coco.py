# MGD (Yang et al., ECCV 2022) on the five FPN levels, one generation block
# per level. Target (METHODS.md): RetinaNet X101 (41.0) -> R50 2x: 41.0 AP.
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
        dict(student='neck', teacher='neck', num_levels=5,
             loss=dict(type='mmkd.MGDLoss', channels=256, alpha_mgd=2e-5,
                       lambda_mgd=0.65))
    ])
# the published recipe clips gradients (max norm 35)
optim_wrapper = dict(clip_grad=dict(max_norm=35, norm_type=2))
