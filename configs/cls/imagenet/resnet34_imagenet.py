# ResNet-34 on ImageNet (100-epoch recipe of the DKD/RLD code), trained
# alone: the teacher of the R34 -> R18 configs. The papers use torchvision's
# pretrained ResNet-34 (73.31% top-1) instead; its state dict has this
# model's key names once prefixed 'backbone.' (and 'fc.' renamed 'head.fc.').
_base_ = [
    '../_base_/models/imagenet_resnet.py', '../_base_/datasets/imagenet.py',
    '../_base_/schedules/imagenet_100e.py', '../_base_/default_runtime.py'
]
model = dict(backbone=dict(depth=34))
