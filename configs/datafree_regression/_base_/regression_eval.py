# Validation/test on real rows (the metric only), standardised with the
# training-row statistics. The data set files (datasets/*.py) merge their
# `dataset_args` into the two loaders.
val_dataloader = dict(
    batch_size=4096,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(split='val'))
test_dataloader = dict(val_dataloader, dataset=dict(split='test'))
val_evaluator = dict(type='mmkd.RMSE')
test_evaluator = dict(type='mmkd.RMSE')
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
