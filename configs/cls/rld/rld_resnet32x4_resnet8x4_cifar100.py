# RLD (Sun et al., ICCV 2025; METHODS.md section 3): resnet32x4 -> resnet8x4 on
# CIFAR-100, the public-code defaults: alpha 1, beta 8, T 4, Ta 1, CE weight 1,
# distillation warmed up linearly over 20 epochs. Published top-1 76.64.
# Train the teacher first: python tools/train.py
#     configs/cls/cifar100/resnet32x4_cifar100.py
# student, teacher and the distilled logits (head.fc)
_base_ = ['../_base_/pairs/resnet32x4_resnet8x4_cifar100.py']
# which loss
model = dict(distill={'head.fc': dict(loss=dict(
    type='mmkd.RLDLoss', alpha=1.0, beta=8.0, temperature=4.0,
    scd_temperature=1.0))})
custom_hooks = [dict(type='mmkd.DistillWeightScheduleHook', warmup_epochs=20)]
