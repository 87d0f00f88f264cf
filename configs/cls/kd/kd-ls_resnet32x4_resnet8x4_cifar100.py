# KD with logit standardisation (Sun et al., CVPR 2024; METHODS.md
# "Baselines"): resnet32x4 -> resnet8x4 on CIFAR-100, the public-code recipe
# (--logit-stand --base-temp 2 --kd-weight 9): z-scored logits, T 2,
# 0.1 CE + 9 KD. Published top-1 76.62 (logit-standardization-KD README).
# the KD config (student, teacher, logits, 0.1 CE + KD) ...
_base_ = ['./kd_resnet32x4_resnet8x4_cifar100.py']
# ... with z-scored logits, T 2 and weight 9
model = dict(distill={'head.fc': dict(loss=dict(
    temperature=2.0, loss_weight=9.0, logit_standardization=True))})
