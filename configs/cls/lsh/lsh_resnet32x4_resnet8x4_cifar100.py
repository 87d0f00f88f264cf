# LSH feature mimicking, LSHL2 (Wang, Ge and Wu, arXiv 2011.01424; METHODS.md
# section 2): resnet32x4 -> resnet8x4 on CIFAR-100 with the paper's CIFAR
# settings: the 256-d penultimate features (same width: no connector),
# Nb = 32 x 256 bits, W ~ N(0, std(teacher fc weights)^2), median bias,
# beta 6, averaged over the samples the teacher classifies correctly.
# Published top-1: not in METHODS.md.
# Train the teacher first: python tools/train.py
#     configs/cls/cifar100/resnet32x4_cifar100.py
# student and teacher
_base_ = ['../_base_/pairs/resnet32x4_resnet8x4_cifar100.py']
model = dict(distill={
    # which layers: the penultimate features instead of the logits
    'head.fc': None,
    'head.pre_logits': dict(
        student='head.pre_logits', teacher='head.pre_logits',
        teacher_logits='head.fc',
        # which loss
        loss=dict(type='mmkd.LSHLoss', in_channels=256, mode='lshl2',
                  std_from='head.fc.weight', bias='median',
                  teacher_correct_only=True, loss_weight=6.0))})
custom_hooks = [dict(type='mmkd.LSHMedianBiasHook')]
