# Copyright (c) mmkd contributors. All rights reserved.
from .cifar import CIFAR100  # noqa: F401
from .image_folder import ImageFolder  # noqa: F401
from .in_memory_cls_dataset import InMemoryClsDataset  # noqa: F401
from .mnist import MNIST  # noqa: F401
from .noise_seed_dataset import NoiseSeedDataset  # noqa: F401
from .synthetic import *  # noqa: F401,F403
from .tabular_regression import TabularRegressionDataset  # noqa: F401
from .transforms import *  # noqa: F401,F403
