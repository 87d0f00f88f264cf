# RLD with logit standardisation on the MNIST benchmark, convnet-l ->
# convnet-s: RLD's own hyperparameters (alpha 1, beta 8, T 4, Ta 1), logits
# z-scored (no published LS recipe for RLD).
# Train the teacher first: configs/cls/mnist/convnet-l_mnist.py.
# the RLD config (student, teacher, logits, RLD, warm-up) with z-scored logits
_base_ = ['./rld_convnet-l_convnet-s_mnist.py']
model = dict(distill={'head.fc': dict(loss=dict(logit_standardization=True))})
