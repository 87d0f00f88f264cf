# Copyright (c) mmkd contributors. All rights reserved.
from typing import Optional, Sequence

import torch.nn as nn
from torch import Tensor

from mmkd.registry import MODELS
from .base import BaseConnector


@MODELS.register_module()
class LinearConnector(BaseConnector):
    """Dimension alignment of B x D feature vectors with a linear layer
    (e.g. a classifier's pooled features; the ``feat_fc`` of LSH feature
    mimicking).

    Args:
        in_features (int): student dimension.
        out_features (int): teacher dimension.
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        for key, value in (('in_features', in_features), ('out_features',
                                                          out_features)):
            if not isinstance(value, int) or isinstance(value, bool) or \
                    value < 1:
                raise ValueError(f'LinearConnector: {key} must be a '
                                 f'positive int, got {value!r}')
        self.fc = nn.Linear(in_features, out_features)

    def forward(self, x: Tensor,
                target_size: Optional[Sequence[int]] = None) -> Tensor:
        self.check_input(x, 2, 'B x D')
        if x.shape[1] != self.fc.in_features:
            raise ValueError(
                f'LinearConnector was built with in_features='
                f'{self.fc.in_features} but got {x.shape[1]} (shape '
                f"{tuple(x.shape)}); set in_features to the student's "
                'feature dimension')
        return self.fc(x)
