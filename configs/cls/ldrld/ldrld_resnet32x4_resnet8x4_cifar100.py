# LDRLD (ICCV 2025; METHODS.md section 4): resnet32x4 -> resnet8x4 on
# CIFAR-100: top-7 classes, T 4, alpha 10.5, beta 7.0 (the resnet32x4 ->
# resnet8x4 values, the only ones METHODS.md gives; used for every pair), CE
# weight 1, no warm-up. Published top-1 77.20.
# Train the teacher first: python tools/train.py
#     configs/cls/cifar100/resnet32x4_cifar100.py
_base_ = ['../cifar100/resnet8x4_cifar100.py']

model = dict(
    _delete_=True,
    type='mmkd.SingleTeacherDistiller',
    student=_base_.model,
    teacher=dict(
        config='configs/cls/cifar100/resnet32x4_cifar100.py',
        checkpoint='work_dirs/resnet32x4_cifar100/epoch_240.pth'),
    distill=[
        dict(
            student='head.fc',
            teacher='head.fc',
            loss=dict(
                type='mmkd.LDRLDLoss',
                alpha=10.5,
                beta=7.0,
                temperature=4.0,
                topk=7))
    ])
