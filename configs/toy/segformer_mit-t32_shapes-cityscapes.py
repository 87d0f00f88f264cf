# Toy transformer teacher: Segformer on a tiny MiT (mmseg's
# MixVisionTransformer, 32 embedding dims, one block per stage); its
# logits are at 1/4 of the input (the toy PSPNet student's at 1/8).
_base_ = ['./pspnet_r18-w16_shapes-cityscapes.py']

embed_dims = 32
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    backbone=dict(
        _delete_=True,
        type='MixVisionTransformer',
        embed_dims=embed_dims,
        num_stages=4,
        num_layers=[1, 1, 1, 1],
        num_heads=[1, 2, 4, 8],
        patch_sizes=[7, 3, 3, 3],
        sr_ratios=[8, 4, 2, 1],
        out_indices=(0, 1, 2, 3),
        drop_path_rate=0.0),
    decode_head=dict(
        _delete_=True,
        type='SegformerHead',
        in_channels=[embed_dims * 2**i for i in range(4)],
        in_index=[0, 1, 2, 3],
        channels=64,
        dropout_ratio=0.1,
        num_classes=19,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=None)
max_iters = 800
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
# AdamW, as mmseg's Segformer configs
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=6e-4, betas=(0.9, 0.999),
                   weight_decay=0.01))
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-5, power=1.0, begin=0, end=max_iters,
         by_epoch=False)
]
default_hooks = dict(checkpoint=dict(interval=max_iters))
