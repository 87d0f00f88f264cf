# Toy PSPNet (the student of the toy segmentation pairs): mmseg's PSPNet-R18
# Cityscapes config, shrunk to train on the synthetic Cityscapes-layout set
# on a CPU. Make the data with:
#   python tools/misc/make_shapes.py cityscapes data/cityscapes_shapes
_base_ = ['mmseg::pspnet/pspnet_r18-d8_4xb2-80k_cityscapes-512x1024.py']

data_root = 'data/cityscapes_shapes/'
crop_size = (128, 256)
width = 16  # ResNetV1c-18 stem/base channels (64 in the real one)
norm_cfg = dict(type='BN', requires_grad=True)

model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained=None,  # no ImageNet weights offline
    backbone=dict(
        stem_channels=width, base_channels=width, norm_cfg=norm_cfg),
    decode_head=dict(
        in_channels=width * 8, channels=width * 2, norm_cfg=norm_cfg),
    auxiliary_head=dict(
        in_channels=width * 4, channels=width, norm_cfg=norm_cfg))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

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
