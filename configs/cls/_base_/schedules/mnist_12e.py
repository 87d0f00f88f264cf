# Short schedule of the MNIST CPU benchmark, the same for the teacher, the
# student alone and every distilled student: SGD lr 0.01 with momentum 0.9,
# weight decay 5e-4, batch 64 (125 iterations an epoch on the 8,000 training
# images), cosine decay per iteration to 0 over 12 epochs, validation after
# every epoch. (lr 0.05 made the T^2-scaled KD gradients kill the tiny
# students' ReLUs.)
max_epochs = 12
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-4))
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        eta_min=0.0,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True)
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()
