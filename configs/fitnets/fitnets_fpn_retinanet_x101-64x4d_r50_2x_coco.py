# FitNets (Romero et al., ICLR 2015) hints on the five FPN levels: MSE after
# a learnable 1x1-conv + BN connector per level.
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
    # which layers -> connector -> which loss
    distill=[
        dict(student='neck', teacher='neck', num_levels=5,
             connector=dict(type='mmkd.ConvConnector', in_channels=256,
                            out_channels=256),
             loss=dict(type='mmkd.FeatureMSELoss', loss_weight=1.0))
    ])
