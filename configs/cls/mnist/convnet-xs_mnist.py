# Student of the MNIST benchmark, trained alone: MnistConvNet channels 2-4,
# hidden 8 (1,768 parameters).
_base_ = ['./convnet-l_mnist.py']
model = dict(
    backbone=dict(channels=(2, 4), hidden=8), head=dict(in_channels=8))
