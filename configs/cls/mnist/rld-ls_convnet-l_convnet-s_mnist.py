# RLD with logit standardisation on the MNIST benchmark, convnet-l ->
# convnet-s: RLD's own hyperparameters (alpha 1, beta 8, T 4, Ta 1), logits
# z-scored (no published LS recipe for RLD).
# Train the teacher first: configs/cls/mnist/convnet-l_mnist.py.
_base_ = ['./convnet-s_mnist.py']

model = dict(
    _delete_=True,
    type='mmkd.SingleTeacherDistiller',
    student=_base_.model,
    teacher=dict(
        config='configs/cls/mnist/convnet-l_mnist.py',
        checkpoint='work_dirs/convnet-l_mnist/epoch_12.pth'),
    distill=[
        dict(
            student='head.fc',
            teacher='head.fc',
            loss=dict(
                type='mmkd.RLDLoss',
                alpha=1.0,
                beta=8.0,
                temperature=4.0,
                scd_temperature=1.0,
                logit_standardization=True))
    ])
# DKD/RLD ramp the distillation weight up over 20 of 240 epochs; here
# over the first of 12 epochs (125 iterations)
custom_hooks = [dict(type='mmkd.DistillWeightScheduleHook', warmup_iters=125)]
