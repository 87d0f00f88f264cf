# Toy GFL teacher: the toy GFL at twice the width, one more head conv,
# trained longer (as the toy RetinaNet teacher).
_base_ = ['./gfl_r18-w32_shapes-coco.py']

width = 64
neck_channels = 128
model = dict(
    backbone=dict(base_channels=width),
    neck=dict(
        in_channels=[width, width * 2, width * 4, width * 8],
        out_channels=neck_channels),
    bbox_head=dict(
        in_channels=neck_channels,
        feat_channels=neck_channels,
        stacked_convs=3))
max_epochs = 24
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=50),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[int(max_epochs * 0.75)], gamma=0.1)
]
default_hooks = dict(checkpoint=dict(interval=max_epochs))
