# DKD (Zhao et al., CVPR 2022; METHODS.md "Baselines"): wrn_40_2 -> wrn_40_1 on
# CIFAR-100, the mdistiller recipe: alpha 1, beta 6, T 4, CE weight 1,
# distillation warmed up linearly over 20 epochs. Published top-1 74.81.
# Train the teacher first: python tools/train.py
#     configs/cls/cifar100/wrn_40_2_cifar100.py
# student, teacher and the distilled logits (head.fc)
_base_ = ['../_base_/pairs/wrn-40-2_wrn-40-1_cifar100.py']
# which loss
model = dict(distill={'head.fc': dict(loss=dict(
    type='mmkd.DKDLoss', alpha=1.0, beta=6.0, temperature=4.0))})
custom_hooks = [dict(type='mmkd.DistillWeightScheduleHook', warmup_epochs=20)]
