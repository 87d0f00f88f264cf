# Toy transformer teacher: RetinaNet on a tiny Swin (mmdet's
# SwinTransformer, 32 embedding dims, 2 blocks per stage) with an FPN of
# strides 4-64 like the Swin Mask R-CNN teacher of PKD's Swin recipe
# (the toy student's FPN has strides 8-128); trained as the R18-w64 teacher
# (24 epochs), with AdamW as mmdet's Swin configs.
_base_ = ['./retinanet_r18-w64_shapes-coco.py']

embed_dims = 32
neck_channels = 96
model = dict(
    backbone=dict(
        _delete_=True,
        type='SwinTransformer',
        embed_dims=embed_dims,
        depths=[2, 2, 2, 2],
        num_heads=[1, 2, 4, 8],
        window_size=4,
        drop_path_rate=0.0,
        out_indices=(0, 1, 2, 3),
        init_cfg=None),  # no ImageNet weights offline
    neck=dict(
        in_channels=[embed_dims * 2**i for i in range(4)],
        out_channels=neck_channels,
        start_level=0,
        add_extra_convs=False,  # the fifth level max-pooled, as Mask R-CNN
        num_outs=5),
    bbox_head=dict(
        in_channels=neck_channels,
        feat_channels=neck_channels,
        stacked_convs=2,
        anchor_generator=dict(strides=[4, 8, 16, 32, 64])))
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
    clip_grad=dict(max_norm=10, norm_type=2))
