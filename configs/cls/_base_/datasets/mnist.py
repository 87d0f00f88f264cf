# MNIST digits for the CPU benchmark: only the official 10k test split is
# available offline ($MMKD_DATA_ROOT/mnist, README "Real data sets"), cut
# into a seeded 8,000 train / 2,000 val partition (mmkd.MNIST
# split='train'/'val', split_seed).
dataset_type = 'mmkd.MNIST'
data_root = '${MMKD_DATA_ROOT}/mnist'  # expanded by mmkd.MNIST
split_seed = 0

train_pipeline = [dict(type='mmkd.PackClsInputs')]
test_pipeline = [dict(type='mmkd.PackClsInputs')]

train_dataloader = dict(
    batch_size=64,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        num_val=2000,
        split_seed=split_seed,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=500,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='val',
        num_val=2000,
        split_seed=split_seed,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='mmkd.Accuracy', topk=(1, ))
test_evaluator = val_evaluator
