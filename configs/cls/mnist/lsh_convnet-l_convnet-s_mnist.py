# LSH feature mimicking, LSHL2 (Wang, Ge and Wu, arXiv 2011.01424;
# METHODS.md section 2) on the MNIST benchmark, convnet-l -> convnet-s:
# the student's 16-d penultimate feature, mapped to the teacher's 128-d by
# a linear connector (the paper's feat_fc), mimics the teacher's with
# L2 + LSH: 32 x 128 bits, W ~ N(0, std(teacher fc weights)^2), median
# bias (LSHMedianBiasHook), beta 6, averaged over the samples the
# teacher classifies correctly; CE weight 1.
# Train the teacher first: configs/cls/mnist/convnet-l_mnist.py.
# student and teacher
_base_ = ['../_base_/pairs/convnet-l_convnet-s_mnist.py']
model = dict(distill={
    # which layers -> connector: the penultimate features instead of the
    # logits
    'head.fc': None,
    'head.pre_logits': dict(
        student='head.pre_logits', teacher='head.pre_logits',
        teacher_logits='head.fc',
        connector=dict(
            type='mmkd.LinearConnector', in_features=16, out_features=128),
        # which loss
        loss=dict(type='mmkd.LSHLoss', in_channels=128, mode='lshl2',
                  std_from='head.fc.weight', bias='median',
                  teacher_correct_only=True, loss_weight=6.0))})
custom_hooks = [dict(type='mmkd.LSHMedianBiasHook')]
