# RLD (Sun et al., ICCV 2025; METHODS.md section 3): wrn_40_2 -> wrn_16_2 on
# CIFAR-100, the public-code defaults: alpha 1, beta 8, T 4, Ta 1, CE weight 1,
# distillation warmed up linearly over 20 epochs. Published top-1: not in
# METHODS.md.
# Train the teacher first: python tools/train.py
#     configs/cls/cifar100/wrn_40_2_cifar100.py
# student, teacher and the distilled logits (head.fc)
_base_ = ['../_base_/pairs/wrn-40-2_wrn-16-2_cifar100.py']
# which loss
model = dict(distill={'head.fc': dict(loss=dict(
    type='mmkd.RLDLoss', alpha=1.0, beta=8.0, temperature=4.0,
    scd_temperature=1.0))})
custom_hooks = [dict(type='mmkd.DistillWeightScheduleHook', warmup_epochs=20)]
