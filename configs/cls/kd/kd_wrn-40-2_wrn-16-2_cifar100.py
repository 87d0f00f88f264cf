# KD (Hinton et al., 2015; METHODS.md "Baselines"): wrn_40_2 -> wrn_16_2 on
# CIFAR-100, the mdistiller recipe: T 4, 0.1 CE + 0.9 KD. Published top-1
# 74.92.
# Train the teacher first: python tools/train.py
#     configs/cls/cifar100/wrn_40_2_cifar100.py
_base_ = ['../cifar100/wrn_16_2_cifar100.py']

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
            loss=dict(type='mmkd.KDLoss', temperature=4.0, loss_weight=0.9))
    ])
model['student']['head']['loss']['loss_weight'] = 0.1  # 0.1 CE
