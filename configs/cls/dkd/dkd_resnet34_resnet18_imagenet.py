# DKD (Zhao et al., CVPR 2022; METHODS.md "Baselines"): ResNet-34 ->
# ResNet-18 on ImageNet, the mdistiller ImageNet recipe: alpha 1, beta 0.5,
# T 1, CE weight 1, 1-epoch warm-up (the weight is 1 from the first epoch
# on with an epoch-wise ramp). Published top-1 71.70 (DKD paper).
# Train (or convert) the teacher first: python tools/train.py
#     configs/cls/imagenet/resnet34_imagenet.py
# student, teacher and the distilled logits (head.fc)
_base_ = ['../_base_/pairs/resnet34_resnet18_imagenet.py']
# which loss
model = dict(distill={'head.fc': dict(loss=dict(
    type='mmkd.DKDLoss', alpha=1.0, beta=0.5, temperature=1.0))})
custom_hooks = [dict(type='mmkd.DistillWeightScheduleHook', warmup_epochs=1)]
