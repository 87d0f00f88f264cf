# LDRLD (ICCV 2025; METHODS.md section 4): ResNet-34 -> ResNet-18 on
# ImageNet. METHODS.md gives no ImageNet hyperparameters: these are its
# defaults (top-7, T 4) and its only published alpha 10.5 / beta 7.0 (the
# CIFAR resnet32x4 -> resnet8x4 pair), CE weight 1, no warm-up; unverified
# on ImageNet. Published top-1 71.88.
# Train (or convert) the teacher first: python tools/train.py
#     configs/cls/imagenet/resnet34_imagenet.py
# student, teacher and the distilled logits (head.fc)
_base_ = ['../_base_/pairs/resnet34_resnet18_imagenet.py']
# which loss
model = dict(distill={'head.fc': dict(loss=dict(
    type='mmkd.LDRLDLoss', alpha=10.5, beta=7.0, temperature=4.0, topk=7))})
