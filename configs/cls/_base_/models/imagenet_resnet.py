# ImageNet ResNet classifier: mmdet's ResNet backbone (the torchvision
# architecture), global average pooling and a 1000-way linear head. The
# backbone depth and the head width are set by each model config.
model = dict(
    type='mmkd.ImageClassifier',
    data_preprocessor=dict(
        type='ImgDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        type='mmdet.ResNet',
        depth=18,
        num_stages=4,
        out_indices=(3, ),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        style='pytorch',
        init_cfg=None),
    neck=dict(type='mmkd.GlobalAveragePooling'),
    head=dict(
        type='mmkd.LinearClsHead',
        num_classes=1000,
        in_channels=512,
        loss=dict(type='mmkd.CrossEntropyLoss', loss_weight=1.0)))
