# DKD with logit standardisation (Sun et al., CVPR 2024; METHODS.md
# "Baselines"): resnet32x4 -> resnet8x4 on CIFAR-100, the public-code recipe
# (--logit-stand --base-temp 2 --kd-weight 9: alpha and beta x 9): z-scored
# logits, T 2, alpha 1, beta 8, loss weight 9, 20-epoch warm-up. Published
# top-1 77.01 (logit-standardization-KD README).
_base_ = ['./dkd_resnet32x4_resnet8x4_cifar100.py']

model = dict(distill=[
    dict(
        student='head.fc',
        teacher='head.fc',
        loss=dict(
            type='mmkd.DKDLoss',
            alpha=1.0,
            beta=8.0,
            temperature=2.0,
            loss_weight=9.0,
            logit_standardization=True))
])
