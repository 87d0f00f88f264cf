# LDRLD (ICCV 2025; METHODS.md section 4) on the MNIST benchmark,
# convnet-l -> convnet-s: top-7 of the 10 classes, T 4, alpha 10.5,
# beta 7.0 (METHODS.md's values), CE weight 1, no warm-up.
# Train the teacher first: configs/cls/mnist/convnet-l_mnist.py.
# student, teacher and the distilled logits (head.fc)
_base_ = ['../_base_/pairs/convnet-l_convnet-s_mnist.py']
# which loss
model = dict(distill={'head.fc': dict(loss=dict(
    type='mmkd.LDRLDLoss', alpha=10.5, beta=7.0, temperature=4.0, topk=7))})
