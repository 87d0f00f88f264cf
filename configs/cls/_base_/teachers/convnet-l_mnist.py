# Teacher of the MNIST benchmark, MnistConvNet channels 32-64: its config
# and the last checkpoint of its 12-epoch training. Train it first:
#   python tools/train.py configs/cls/mnist/convnet-l_mnist.py
teacher = dict(
    config='configs/cls/mnist/convnet-l_mnist.py',
    checkpoint='work_dirs/convnet-l_mnist/epoch_12.pth')
