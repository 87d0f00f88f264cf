# Supervised teacher (Zhou & Chiam, arXiv 2301.04338): MLP d -> 500 (Tanh)
# -> 1, MSE on the standardised target. Recipe: RMSprop lr 1e-3, weight
# decay 1e-5 (the authors' optimiser), batch 32, at most 200 epochs, the
# learning rate halved after 10 epochs without validation improvement, the
# best-validation state kept (best_teacher.pth in the work dir).
# (the data, validation and test: ./datasets/*.py)
_base_ = ['./default_runtime.py']

model = dict(type='mmkd.MLPRegressor', hidden=500)
train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(split='train'))
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='RMSprop', lr=1e-3, weight_decay=1e-5))
param_scheduler = dict(
    type='ReduceOnPlateauLR',
    monitor='rmse',
    rule='less',
    factor=0.5,
    patience=10,
    by_epoch=True)
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=200, val_interval=1)
default_hooks = dict(
    logger=dict(interval=50), sampler_seed=dict(type='DistSamplerSeedHook'))
# The best-validation teacher is restored after training and written once
# as <work_dir>/best_teacher.pth (the distillation configs load it).
custom_hooks = [
    dict(
        type='mmkd.BestStateHook',
        key='rmse',
        rule='less',
        save_filename='best_teacher.pth')
]
log_processor = dict(by_epoch=True)
randomness = dict(seed=0)
