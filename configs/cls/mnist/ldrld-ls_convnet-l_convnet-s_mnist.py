# LDRLD with logit standardisation on the MNIST benchmark, convnet-l ->
# convnet-s: LDRLD's own hyperparameters (top-7, alpha 10.5, beta 7.0, T 4),
# logits z-scored (no published LS recipe for LDRLD).
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
                type='mmkd.LDRLDLoss',
                alpha=10.5,
                beta=7.0,
                temperature=4.0,
                topk=7,
                logit_standardization=True))
    ])
