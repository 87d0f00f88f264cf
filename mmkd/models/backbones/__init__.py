# Copyright (c) mmkd contributors. All rights reserved.
from .cifar_mobilenetv2 import CifarMobileNetV2
from .cifar_resnet import CifarResNet
from .cifar_shufflenet import CifarShuffleNetV1, CifarShuffleNetV2
from .cifar_vgg import CifarVGG
from .cifar_wrn import CifarWideResNet
from .mnist_convnet import MnistConvNet
from .utils import CIFAR_MODEL_ZOO

__all__ = [
    'CifarResNet', 'CifarWideResNet', 'CifarVGG', 'CifarMobileNetV2',
    'CifarShuffleNetV1', 'CifarShuffleNetV2', 'MnistConvNet', 'CIFAR_MODEL_ZOO'
]
