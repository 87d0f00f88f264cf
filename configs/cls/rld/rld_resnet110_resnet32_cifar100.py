# RLD (Sun et al., ICCV 2025; METHODS.md section 3): resnet110 -> resnet32 on
# CIFAR-100, the public-code defaults: alpha 1, beta 8, T 4, Ta 1, CE weight 1,
# distillation warmed up linearly over 20 epochs. Published top-1 74.02.
# Train the teacher first: python tools/train.py
#     configs/cls/cifar100/resnet110_cifar100.py
_base_ = ['../cifar100/resnet32_cifar100.py']

model = dict(
    _delete_=True,
    type='mmkd.SingleTeacherDistiller',
    student=_base_.model,
    teacher=dict(
        config='configs/cls/cifar100/resnet110_cifar100.py',
        checkpoint='work_dirs/resnet110_cifar100/epoch_240.pth'),
    distill=[
        dict(
            student='head.fc',
            teacher='head.fc',
            loss=dict(
                type='mmkd.RLDLoss',
                alpha=1.0,
                beta=8.0,
                temperature=4.0,
                scd_temperature=1.0))
    ])
custom_hooks = [dict(type='mmkd.DistillWeightScheduleHook', warmup_epochs=20)]
