# Toy CrossKD + PKD: the toy CrossKD config with PKD on the five FPN levels
# beside it (as the toy PKD config: 64 -> 128 channels, loss weight 10), as
# CrossKD's "+ PKD" rows.
_base_ = ['./crosskd_head_retinanet_r18-w64_r18-w32_toy-shapes.py']
model = dict(distill=dict(neck=dict(
    _delete_=True,  # the base has no FPN entry (None)
    student='neck', teacher='neck', num_levels=5,
    connector=dict(type='mmkd.ConvConnector', in_channels=64,
                   out_channels=128),
    loss=dict(type='mmkd.PKDLoss', loss_weight=10))))
