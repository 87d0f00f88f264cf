# Copyright (c) mmkd contributors. All rights reserved.
from .accuracy import Accuracy  # noqa: F401
from .rmse import RMSE  # noqa: F401
