# RLD (Sun et al., ICCV 2025; METHODS.md section 3): vgg13 -> vgg8 on
# CIFAR-100, the public-code defaults: alpha 1, beta 8, T 4, Ta 1, CE weight 1,
# distillation warmed up linearly over 20 epochs. Published top-1 74.93.
# Train the teacher first: python tools/train.py
#     configs/cls/cifar100/vgg13_cifar100.py
# student, teacher and the distilled logits (head.fc)
_base_ = ['../_base_/pairs/vgg13_vgg8_cifar100.py']
# which loss
model = dict(distill={'head.fc': dict(loss=dict(
    type='mmkd.RLDLoss', alpha=1.0, beta=8.0, temperature=4.0,
    scd_temperature=1.0))})
custom_hooks = [dict(type='mmkd.DistillWeightScheduleHook', warmup_epochs=20)]
