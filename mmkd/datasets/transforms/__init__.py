# Copyright (c) mmkd contributors. All rights reserved.
from .formatting import PackClsInputs  # noqa: F401
from .processing import RandomCropPad, RandomFlipCls  # noqa: F401
from .random_resized_crop import RandomResizedCropCls  # noqa: F401
