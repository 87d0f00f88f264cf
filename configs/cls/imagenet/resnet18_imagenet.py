# ResNet-18 on ImageNet (100-epoch recipe of the DKD/RLD code), trained
# alone: the vanilla-student baseline (69.76% top-1 for torchvision's).
_base_ = [
    '../_base_/models/imagenet_resnet.py', '../_base_/datasets/imagenet.py',
    '../_base_/schedules/imagenet_100e.py', '../_base_/default_runtime.py'
]
model = dict(backbone=dict(depth=18))
