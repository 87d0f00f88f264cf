# Copyright (c) mmkd contributors. All rights reserved.
"""The connector signature.

A connector maps the student feature of a distill entry to the teacher's
form before the loss sees it::

    connector(x, target_size=None) -> x'

``target_size`` is the teacher feature's spatial size (H, W), passed by
the distiller; only spatial connectors use it, the others ignore it.
Connectors with parameters are trained with the student and dropped after
distillation.
"""
from typing import Optional, Sequence

import torch.nn as nn
from torch import Tensor


class BaseConnector(nn.Module):
    """Base class of connectors: ``forward(x, target_size=None)``."""

    def check_input(self, x: Tensor, ndim: int, what: str) -> None:
        """Raise if ``x`` is not an ``ndim``-D tensor (``what`` names the
        expected layout, e.g. ``'B x C x H x W'``)."""
        name = type(self).__name__
        if not isinstance(x, Tensor):
            raise TypeError(f'{name} takes one tensor, got '
                            f'{type(x).__name__}')
        if x.dim() != ndim:
            raise ValueError(f'{name} expects {ndim}-D features ({what}), '
                             f'got shape {tuple(x.shape)}')

    def forward(self, x: Tensor,
                target_size: Optional[Sequence[int]] = None) -> Tensor:
        raise NotImplementedError
