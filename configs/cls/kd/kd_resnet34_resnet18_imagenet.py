# KD (Hinton et al., 2015; METHODS.md "Baselines"): ResNet-34 -> ResNet-18 on
# ImageNet, the mdistiller ImageNet recipe: T 1, 0.5 CE + 0.5 KD. Published
# top-1 70.66 (KD row of the DKD paper's ImageNet table).
# Train (or convert) the teacher first: python tools/train.py
#     configs/cls/imagenet/resnet34_imagenet.py
# student, teacher and the distilled logits (head.fc)
_base_ = ['../_base_/pairs/resnet34_resnet18_imagenet.py']
# which loss: 0.5 CE + 0.5 KD
model = dict(
    student=dict(head=dict(loss=dict(loss_weight=0.5))),
    distill={'head.fc': dict(loss=dict(
        type='mmkd.KDLoss', temperature=1.0, loss_weight=0.5))})
