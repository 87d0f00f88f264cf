# Teacher wrn_40_2 (CIFAR-100): its config and the last checkpoint of its
# 240-epoch training, under a name of its own so that a config with several
# teachers can take it beside another pair's teacher. Train it first:
#   python tools/train.py configs/cls/cifar100/wrn_40_2_cifar100.py
wrn_40_2_teacher = dict(
    config='configs/cls/cifar100/wrn_40_2_cifar100.py',
    checkpoint='work_dirs/wrn_40_2_cifar100/epoch_240.pth')
