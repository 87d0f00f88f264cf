# DKD (Zhao et al., CVPR 2022; METHODS.md "Baselines"): wrn_40_2 -> wrn_40_1 on
# CIFAR-100, the mdistiller recipe: alpha 1, beta 6, T 4, CE weight 1,
# distillation warmed up linearly over 20 epochs. Published top-1 74.81.
# Train the teacher first: python tools/train.py
#     configs/cls/cifar100/wrn_40_2_cifar100.py
_base_ = ['../cifar100/wrn_40_1_cifar100.py']

model = dict(
    _delete_=True,
    type='mmkd.SingleTeacherDistiller',
    student=_base_.model,
    teacher=dict(
        config='configs/cls/cifar100/wrn_40_2_cifar100.py',
        checkpoint='work_dirs/wrn_40_2_cifar100/epoch_240.pth'),
    distill=[
        dict(
            student='head.fc',
            teacher='head.fc',
            loss=dict(
                type='mmkd.DKDLoss', alpha=1.0, beta=6.0, temperature=4.0))
    ])
custom_hooks = [dict(type='mmkd.DistillWeightScheduleHook', warmup_epochs=20)]
