# KD (Hinton et al., 2015) on the MNIST benchmark, convnet-l -> convnet-s:
# T 4, 0.1 CE + 0.9 KD (the mdistiller recipe).
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
            loss=dict(type='mmkd.KDLoss', temperature=4.0, loss_weight=0.9))
    ])
# the KD recipe weights the task loss by 0.1 (0.1 CE + 0.9 KD)
model['student']['head']['loss']['loss_weight'] = 0.1
