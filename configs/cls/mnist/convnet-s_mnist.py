# Student of the MNIST benchmark, trained alone: MnistConvNet channels 4-8,
# hidden 16 (6,806 parameters, 62x fewer than the teacher).
_base_ = ['./convnet-l_mnist.py']
model = dict(
    backbone=dict(channels=(4, 8), hidden=16), head=dict(in_channels=16))
