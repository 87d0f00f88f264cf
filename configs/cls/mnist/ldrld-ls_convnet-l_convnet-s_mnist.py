# LDRLD with logit standardisation on the MNIST benchmark, convnet-l ->
# convnet-s: LDRLD's own hyperparameters (top-7, alpha 10.5, beta 7.0, T 4),
# logits z-scored (no published LS recipe for LDRLD).
# Train the teacher first: configs/cls/mnist/convnet-l_mnist.py.
# the LDRLD config (student, teacher, logits, LDRLD) with z-scored logits
_base_ = ['./ldrld_convnet-l_convnet-s_mnist.py']
model = dict(distill={'head.fc': dict(loss=dict(logit_standardization=True))})
