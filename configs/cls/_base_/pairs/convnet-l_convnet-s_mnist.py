# Pair of the MNIST benchmark, convnet-l (teacher) -> convnet-s (student),
# distilled on the logits (head.fc); the method configs
# (configs/cls/mnist/*_convnet-l_convnet-s_mnist.py) set the loss (LSH
# distils the penultimate features instead).
_base_ = ['../../mnist/convnet-s_mnist.py',  # student
          '../teachers/convnet-l_mnist.py']  # teacher: config + checkpoint
# which layers: the logits
model = dict(_delete_=True, type='mmkd.SingleTeacherDistiller',
             student=_base_.model, teacher=_base_.teacher,
             distill={'head.fc': dict(student='head.fc', teacher='head.fc')})
