# KD (Hinton et al., 2015; METHODS.md "Baselines"): resnet32x4 -> resnet8x4 on
# CIFAR-100, the mdistiller recipe: T 4, 0.1 CE + 0.9 KD. Published top-1
# 73.33.
# Train the teacher first: python tools/train.py
#     configs/cls/cifar100/resnet32x4_cifar100.py
# student, teacher and the distilled logits (head.fc)
_base_ = ['../_base_/pairs/resnet32x4_resnet8x4_cifar100.py']
# which loss: 0.1 CE + 0.9 KD
model = dict(
    student=dict(head=dict(loss=dict(loss_weight=0.1))),
    distill={'head.fc': dict(loss=dict(
        type='mmkd.KDLoss', temperature=4.0, loss_weight=0.9))})
