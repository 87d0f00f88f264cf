# DKD (Zhao et al., CVPR 2022; METHODS.md "Baselines"): vgg13 -> vgg8 on
# CIFAR-100, the mdistiller recipe: alpha 1, beta 6, T 4, CE weight 1,
# distillation warmed up linearly over 20 epochs. Published top-1 74.68.
# Train the teacher first: python tools/train.py
#     configs/cls/cifar100/vgg13_cifar100.py
# student, teacher and the distilled logits (head.fc)
_base_ = ['../_base_/pairs/vgg13_vgg8_cifar100.py']
# which loss
model = dict(distill={'head.fc': dict(loss=dict(
    type='mmkd.DKDLoss', alpha=1.0, beta=6.0, temperature=4.0))})
custom_hooks = [dict(type='mmkd.DistillWeightScheduleHook', warmup_epochs=20)]
