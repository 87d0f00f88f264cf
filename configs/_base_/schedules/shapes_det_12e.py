# The toy detectors' schedule on the synthetic shapes set: mmdet's 1x
# schedule shortened to 12 short epochs, lr 0.02 with a 50-iteration warm-up.
_base_ = ['mmdet::_base_/schedules/schedule_1x.py']
max_epochs = 12
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
# small batches of small images: clip gradients (as mmdet's FCOS/ATSS
# recipes do) so an early spike cannot blow the run up
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4),
    clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=50),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[int(max_epochs * 0.75)], gamma=0.1)
]
