# KD with logit standardisation (Sun et al., CVPR 2024; METHODS.md
# "Baselines"): resnet32x4 -> resnet8x4 on CIFAR-100, the public-code recipe
# (--logit-stand --base-temp 2 --kd-weight 9): z-scored logits, T 2,
# 0.1 CE + 9 KD. Published top-1 76.62 (logit-standardization-KD README).
_base_ = ['./kd_resnet32x4_resnet8x4_cifar100.py']

model = dict(distill=[
    dict(
        student='head.fc',
        teacher='head.fc',
        loss=dict(
            type='mmkd.KDLoss',
            temperature=2.0,
            loss_weight=9.0,
            logit_standardization=True))
])
