# KD (Hinton et al., 2015) on the MNIST benchmark, convnet-l -> convnet-s:
# T 4, 0.1 CE + 0.9 KD (the mdistiller recipe).
# Train the teacher first: configs/cls/mnist/convnet-l_mnist.py.
# student, teacher and the distilled logits (head.fc)
_base_ = ['../_base_/pairs/convnet-l_convnet-s_mnist.py']
# which loss: the KD recipe weights the task loss by 0.1 (0.1 CE + 0.9 KD)
model = dict(
    student=dict(head=dict(loss=dict(loss_weight=0.1))),
    distill={'head.fc': dict(loss=dict(
        type='mmkd.KDLoss', temperature=4.0, loss_weight=0.9))})
