# FitNets (Romero et al., ICLR 2015) hints on the five FPN levels: MSE after
# a learnable 1x1-conv + BN connector per level.
# student, teacher (mmdet model zoo) and the distilled FPN
_base_ = ['../_base_/pairs/retinanet_x101-64x4d_r50_2x_coco.py']
# which levels (all five) -> connector -> which loss
model = dict(distill=dict(neck=dict(
    num_levels=5,
    connector=dict(
        type='mmkd.ConvConnector', in_channels=256, out_channels=256),
    loss=dict(type='mmkd.FeatureMSELoss', loss_weight=1.0))))
