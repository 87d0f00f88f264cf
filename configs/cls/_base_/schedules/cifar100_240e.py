# The CRD/DKD CIFAR-100 recipe: SGD lr 0.05 (0.01 for MobileNet/ShuffleNet
# students), momentum 0.9, weight decay 5e-4, batch 64 on one GPU, 240
# epochs, lr x0.1 at epochs 150, 180 and 210.
max_epochs = 240
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=5e-4))
param_scheduler = [
    dict(
        type='MultiStepLR',
        by_epoch=True,
        begin=0,
        end=max_epochs,
        milestones=[150, 180, 210],
        gamma=0.1)
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64, enable=False)
