# LDRLD (ICCV 2025; METHODS.md section 4): vgg13 -> vgg8 on CIFAR-100: top-7
# classes, T 4, alpha 10.5, beta 7.0 (the resnet32x4 -> resnet8x4 values, the
# only ones METHODS.md gives; used for every pair), CE weight 1, no warm-up.
# Published top-1 75.06.
# Train the teacher first: python tools/train.py
#     configs/cls/cifar100/vgg13_cifar100.py
# student, teacher and the distilled logits (head.fc)
_base_ = ['../_base_/pairs/vgg13_vgg8_cifar100.py']
# which loss
model = dict(distill={'head.fc': dict(loss=dict(
    type='mmkd.LDRLDLoss', alpha=10.5, beta=7.0, temperature=4.0, topk=7))})
