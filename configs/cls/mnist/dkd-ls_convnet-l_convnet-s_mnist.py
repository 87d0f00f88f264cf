# DKD with logit standardisation on the MNIST benchmark, convnet-l ->
# convnet-s: alpha 1, beta 8, T 2, loss weight 9 (the LS paper's DKD
# recipe), CE weight 1.
# Train the teacher first: configs/cls/mnist/convnet-l_mnist.py.
# the DKD config (student, teacher, logits, DKD alpha 1 beta 8, warm-up) ...
_base_ = ['./dkd_convnet-l_convnet-s_mnist.py']
# ... with z-scored logits, T 2 and weight 9
model = dict(distill={'head.fc': dict(loss=dict(
    temperature=2.0, loss_weight=9.0, logit_standardization=True))})
