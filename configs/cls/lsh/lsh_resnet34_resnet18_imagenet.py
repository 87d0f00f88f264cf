# LSH feature mimicking, LSHL2 (Wang, Ge and Wu, arXiv 2011.01424;
# METHODS.md section 2): ResNet-34 -> ResNet-18 on ImageNet with the
# paper's ImageNet settings: the 512-d penultimate features (same width:
# no connector), Nb 2048 bits, W ~ N(0, 0.06^2), median bias, beta 5,
# averaged over the samples the teacher classifies correctly.
# Published top-1 71.72.
# Train (or convert) the teacher first: python tools/train.py
#     configs/cls/imagenet/resnet34_imagenet.py
# student and teacher
_base_ = ['../_base_/pairs/resnet34_resnet18_imagenet.py']
model = dict(distill={
    # which layers: the penultimate features instead of the logits
    'head.fc': None,
    'head.pre_logits': dict(
        student='head.pre_logits', teacher='head.pre_logits',
        teacher_logits='head.fc',
        # which loss
        loss=dict(type='mmkd.LSHLoss', in_channels=512, mode='lshl2',
                  num_bits=2048, std=0.06, bias='median',
                  teacher_correct_only=True, loss_weight=5.0))})
custom_hooks = [dict(type='mmkd.LSHMedianBiasHook')]
