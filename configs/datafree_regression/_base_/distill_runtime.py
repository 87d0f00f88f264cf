# Data-free distillation (Zhou & Chiam, arXiv 2301.04338), METHODS.md s.5.
# One Runner iteration = one epoch of the paper (10 student steps, plus one
# generator step for the generator strategy); the train "data" are only
# (index, seed) pairs. When changing max_epochs with --cfg-options, change
# train_cfg.max_iters and train_dataloader.dataset.num_samples together.
# The student is evaluated on the real validation rows after every epoch
# and the best one is restored after training and written once
# (best_student.pth), as in the authors' code.
# (the data, validation and test: ./datasets/*.py)
_base_ = ['./default_runtime.py']

max_epochs = 2000
seed = 0

model = dict(
    type='mmkd.DataFreeRegressionDistiller',
    student=dict(type='mmkd.MLPRegressor', hidden=50),
    strategy='direct',
    mixing=dict(type='decreasing'),
    generator=dict(type='mmkd.MLPGenerator', noise_dim=50, hidden=500),
    student_steps=10,
    batch_size=50,
    direct_steps=2,
    direct_lr=0.1,
    beta=1e-5,
    gamma=1e-5)
train_dataloader = dict(
    batch_size=1,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='mmkd.NoiseSeedDataset', num_samples=max_epochs,
                 seed=seed))
optim_wrapper = dict(
    constructor='mmkd.SubmoduleOptimWrapperConstructor',
    student=dict(
        type='OptimWrapper',
        optimizer=dict(type='RMSprop', lr=1e-3, weight_decay=1e-5)),
    generator=dict(
        type='OptimWrapper',
        optimizer=dict(type='RMSprop', lr=1e-3, weight_decay=1e-5)))
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_epochs, val_interval=1)
default_hooks = dict(
    logger=dict(interval=100), checkpoint=dict(by_epoch=False))
custom_hooks = [
    dict(
        type='mmkd.BestStateHook',
        key='rmse',
        rule='less',
        save_filename='best_student.pth')
]
log_processor = dict(by_epoch=False)
randomness = dict(seed=seed)
