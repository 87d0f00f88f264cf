# CIFAR-100 as in the CRD/DKD recipes: 4-pixel pad + 32 x 32 random crop
# and horizontal flip for training, the 10k test split for validation.
# Download https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz and
# extract it into data/cifar100 (not available offline here).
dataset_type = 'mmkd.CIFAR100'
data_root = 'data/cifar100'

train_pipeline = [
    dict(type='mmkd.RandomCropPad', size=32, padding=4),
    dict(type='mmkd.RandomFlipCls', prob=0.5),
    dict(type='mmkd.PackClsInputs')
]
test_pipeline = [dict(type='mmkd.PackClsInputs')]

train_dataloader = dict(
    batch_size=64,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=64,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='mmkd.Accuracy', topk=(1, 5))
test_evaluator = val_evaluator
