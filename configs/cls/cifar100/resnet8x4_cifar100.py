# resnet8x4 on CIFAR-100 (240-epoch CRD/DKD recipe), trained alone: a teacher
# or the vanilla-student baseline of the distillation tables.
_base_ = [
    '../_base_/models/cifar_classifier.py', '../_base_/datasets/cifar100.py',
    '../_base_/schedules/cifar100_240e.py', '../_base_/default_runtime.py'
]
model = dict(backbone=dict(type='mmkd.resnet8x4'), head=dict(in_channels=256))
