# Teacher of the MNIST benchmark: MnistConvNet channels 32-64, hidden 128
# (421,738 parameters). Train it first:
#   python tools/train.py configs/cls/mnist/convnet-l_mnist.py
_base_ = [
    '../_base_/models/mnist_convnet.py', '../_base_/datasets/mnist.py',
    '../_base_/schedules/mnist_12e.py', '../_base_/default_runtime.py'
]
