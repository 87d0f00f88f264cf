# DKD with logit standardisation (Sun et al., CVPR 2024; METHODS.md
# "Baselines"): resnet32x4 -> resnet8x4 on CIFAR-100, the public-code recipe
# (--logit-stand --base-temp 2 --kd-weight 9: alpha and beta x 9): z-scored
# logits, T 2, alpha 1, beta 8, loss weight 9, 20-epoch warm-up. Published
# top-1 77.01 (logit-standardization-KD README).
# the DKD config (student, teacher, logits, DKD alpha 1 beta 8, warm-up) ...
_base_ = ['./dkd_resnet32x4_resnet8x4_cifar100.py']
# ... with z-scored logits, T 2 and weight 9
model = dict(distill={'head.fc': dict(loss=dict(
    temperature=2.0, loss_weight=9.0, logit_standardization=True))})
