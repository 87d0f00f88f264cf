# The ImageNet recipe of the DKD/RLD code (mdistiller): SGD lr 0.2,
# momentum 0.9, weight decay 1e-4, batch 512 (8 GPUs x 64), 100 epochs,
# lr x0.1 at epochs 30, 60 and 90.
max_epochs = 100
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.2, momentum=0.9, weight_decay=1e-4))
param_scheduler = [
    dict(
        type='MultiStepLR',
        by_epoch=True,
        begin=0,
        end=max_epochs,
        milestones=[30, 60, 90],
        gamma=0.1)
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=512, enable=False)
