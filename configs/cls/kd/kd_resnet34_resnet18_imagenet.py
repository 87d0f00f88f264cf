# KD (Hinton et al., 2015; METHODS.md "Baselines"): ResNet-34 -> ResNet-18 on
# ImageNet, the mdistiller ImageNet recipe: T 1, 0.5 CE + 0.5 KD. Published
# top-1 70.66 (KD row of the DKD paper's ImageNet table).
# Train (or convert) the teacher first: python tools/train.py
#     configs/cls/imagenet/resnet34_imagenet.py
_base_ = ['../imagenet/resnet18_imagenet.py']

model = dict(
    _delete_=True,
    type='mmkd.SingleTeacherDistiller',
    student=_base_.model,
    teacher=dict(
        config='configs/cls/imagenet/resnet34_imagenet.py',
        checkpoint='work_dirs/resnet34_imagenet/epoch_100.pth'),
    distill=[
        dict(
            student='head.fc',
            teacher='head.fc',
            loss=dict(type='mmkd.KDLoss', temperature=1.0, loss_weight=0.5))
    ])
model['student']['head']['loss']['loss_weight'] = 0.5  # 0.5 CE
