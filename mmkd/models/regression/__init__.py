# Copyright (c) mmkd contributors. All rights reserved.
from .mlp_generator import MLPGenerator  # noqa: F401
from .mlp_regressor import MLPRegressor  # noqa: F401
