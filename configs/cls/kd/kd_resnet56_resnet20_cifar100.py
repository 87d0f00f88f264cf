# KD (Hinton et al., 2015; METHODS.md "Baselines"): resnet56 -> resnet20 on
# CIFAR-100, the mdistiller recipe: T 4, 0.1 CE + 0.9 KD. Published top-1
# 70.66.
# Train the teacher first: python tools/train.py
#     configs/cls/cifar100/resnet56_cifar100.py
# student, teacher and the distilled logits (head.fc)
_base_ = ['../_base_/pairs/resnet56_resnet20_cifar100.py']
# which loss: 0.1 CE + 0.9 KD
model = dict(
    student=dict(head=dict(loss=dict(loss_weight=0.1))),
    distill={'head.fc': dict(loss=dict(
        type='mmkd.KDLoss', temperature=4.0, loss_weight=0.9))})
