# Toy PSPNet (the student of the toy segmentation pairs): mmseg's own PSPNet
# model (ResNetV1c-18, as its R18 Cityscapes config), schedule and runtime,
# shrunk (width 16) to train on the synthetic Cityscapes-layout set on a CPU.
_base_ = [
    'mmseg::_base_/models/pspnet_r50-d8.py',
    '../_base_/datasets/cityscapes_shapes.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py'
]
crop_size = (128, 256)
width = 16  # stem/base channels (64 in the real one)
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained=None,  # no ImageNet weights offline
    backbone=dict(
        depth=18, stem_channels=width, base_channels=width,
        norm_cfg=norm_cfg),
    decode_head=dict(
        in_channels=width * 8, channels=width * 2, norm_cfg=norm_cfg),
    auxiliary_head=dict(
        in_channels=width * 4, channels=width, norm_cfg=norm_cfg))

max_iters = 400
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=max_iters,
         by_epoch=False)
]
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
randomness = dict(seed=0)
