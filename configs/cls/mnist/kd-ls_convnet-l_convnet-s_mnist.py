# KD with logit standardisation on the MNIST benchmark, convnet-l ->
# convnet-s: T 2, 0.1 CE + 9 KD (the LS paper's KD recipe).
# Train the teacher first: configs/cls/mnist/convnet-l_mnist.py.
# the KD config (student, teacher, logits, 0.1 CE + KD) ...
_base_ = ['./kd_convnet-l_convnet-s_mnist.py']
# ... with z-scored logits, T 2 and weight 9
model = dict(distill={'head.fc': dict(loss=dict(
    temperature=2.0, loss_weight=9.0, logit_standardization=True))})
