# DKD (Zhao et al., CVPR 2022; METHODS.md "Baselines"): resnet56 -> resnet20 on
# CIFAR-100, the mdistiller recipe: alpha 1, beta 2, T 4, CE weight 1,
# distillation warmed up linearly over 20 epochs. Published top-1 71.97.
# Train the teacher first: python tools/train.py
#     configs/cls/cifar100/resnet56_cifar100.py
# student, teacher and the distilled logits (head.fc)
_base_ = ['../_base_/pairs/resnet56_resnet20_cifar100.py']
# which loss
model = dict(distill={'head.fc': dict(loss=dict(
    type='mmkd.DKDLoss', alpha=1.0, beta=2.0, temperature=4.0))})
custom_hooks = [dict(type='mmkd.DistillWeightScheduleHook', warmup_epochs=20)]
