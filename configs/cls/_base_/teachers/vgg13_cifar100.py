# Teacher vgg13 (CIFAR-100): its config and the last checkpoint of its
# 240-epoch training. Train it first:
#   python tools/train.py configs/cls/cifar100/vgg13_cifar100.py
teacher = dict(
    config='configs/cls/cifar100/vgg13_cifar100.py',
    checkpoint='work_dirs/vgg13_cifar100/epoch_240.pth')
