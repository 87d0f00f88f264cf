# Copyright (c) mmkd contributors. All rights reserved.
from .backbones import *  # noqa: F401,F403
from .classifiers import *  # noqa: F401,F403
from .connectors import *  # noqa: F401,F403
from .distillers import *  # noqa: F401,F403
from .head_splits import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403
from .recording import *  # noqa: F401,F403
from .regression import *  # noqa: F401,F403
from .teacher import *  # noqa: F401,F403
