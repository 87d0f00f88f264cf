# RLD (Sun et al., ICCV 2025; METHODS.md section 3) on the MNIST benchmark,
# convnet-l -> convnet-s: alpha 1, beta 8, T 4, Ta 1, CE weight 1.
# Train the teacher first: configs/cls/mnist/convnet-l_mnist.py.
# student, teacher and the distilled logits (head.fc)
_base_ = ['../_base_/pairs/convnet-l_convnet-s_mnist.py']
# which loss
model = dict(distill={'head.fc': dict(loss=dict(
    type='mmkd.RLDLoss', alpha=1.0, beta=8.0, temperature=4.0,
    scd_temperature=1.0))})
# DKD/RLD ramp the distillation weight up over 20 of 240 epochs; here
# over the first of 12 epochs (125 iterations)
custom_hooks = [dict(type='mmkd.DistillWeightScheduleHook', warmup_iters=125)]
