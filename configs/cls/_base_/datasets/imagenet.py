# ImageNet-1k in the usual class-folder layout (not available offline):
#   data/imagenet/train/n01440764/*.JPEG ... (1,281,167 images)
#   data/imagenet/val/n01440764/*.JPEG ...   (50,000, sorted into class
#                                             folders like train/)
# Training: random-resized 224 crop and horizontal flip; validation: short
# side resized to 256, centre 224 crop (the torchvision recipe). Images are
# loaded in BGR by mmcv; the model's data preprocessor swaps them to RGB.
dataset_type = 'mmkd.ImageFolder'
data_root = 'data/imagenet'

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmkd.RandomResizedCropCls', size=224),
    dict(type='mmkd.RandomFlipCls', prob=0.5),
    dict(type='mmkd.PackClsInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    # keep_ratio with a huge long side: the short side becomes 256
    dict(type='Resize', scale=(100000, 256), keep_ratio=True),
    dict(type='CenterCrop', crop_size=224),
    dict(type='mmkd.PackClsInputs')
]

train_dataloader = dict(
    batch_size=64,  # per GPU: 8 GPUs x 64 = 512
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='train'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='val'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='mmkd.Accuracy', topk=(1, 5))
test_evaluator = val_evaluator
