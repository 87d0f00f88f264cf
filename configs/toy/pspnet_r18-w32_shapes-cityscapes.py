# Toy PSPNet teacher: twice the width of the toy student, trained longer.
_base_ = ['./pspnet_r18-w16_shapes-cityscapes.py']

width = 32
model = dict(
    backbone=dict(stem_channels=width, base_channels=width),
    decode_head=dict(in_channels=width * 8, channels=width * 2),
    auxiliary_head=dict(in_channels=width * 4, channels=width))
max_iters = 800
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=max_iters,
         by_epoch=False)
]
default_hooks = dict(checkpoint=dict(interval=max_iters))
