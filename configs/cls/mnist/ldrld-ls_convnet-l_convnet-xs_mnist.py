# LDRLD with logit standardisation on the MNIST benchmark, convnet-l ->
# convnet-xs: top-7, alpha 10.5, beta 7.0, and the LS rule: T 2, loss
# weight 9.
# Train the teacher first: configs/cls/mnist/convnet-l_mnist.py.
_base_ = ['./convnet-xs_mnist.py']

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
                type='mmkd.LDRLDLoss',
                alpha=10.5,
                beta=7.0,
                temperature=2.0,
                topk=7,
                loss_weight=9.0,
                logit_standardization=True))
    ])
