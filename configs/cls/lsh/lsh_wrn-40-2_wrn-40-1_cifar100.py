# LSH feature mimicking, LSHL2 (Wang, Ge and Wu, arXiv 2011.01424; METHODS.md
# section 2): wrn_40_2 -> wrn_40_1 on CIFAR-100 with the paper's CIFAR
# settings: the student's 64-d penultimate feature goes through a learnable
# `feat_fc` (LinearConnector 64 -> 128) to the teacher's 128-d one,
# Nb = 32 x 128 bits, W ~ N(0, std(teacher fc weights)^2), median bias,
# beta 6, averaged over the samples the teacher classifies correctly.
# Published top-1: not in METHODS.md.
# Train the teacher first: python tools/train.py
#     configs/cls/cifar100/wrn_40_2_cifar100.py
# student and teacher
_base_ = ['../_base_/pairs/wrn-40-2_wrn-40-1_cifar100.py']
model = dict(distill={
    # which layers -> connector: the penultimate features instead of the
    # logits
    'head.fc': None,
    'head.pre_logits': dict(
        student='head.pre_logits', teacher='head.pre_logits',
        teacher_logits='head.fc',
        connector=dict(
            type='mmkd.LinearConnector', in_features=64, out_features=128),
        # which loss
        loss=dict(type='mmkd.LSHLoss', in_channels=128, num_bits=32 * 128,
                  mode='lshl2', std_from='head.fc.weight', bias='median',
                  teacher_correct_only=True, loss_weight=6.0))})
custom_hooks = [dict(type='mmkd.LSHMedianBiasHook')]
