# Copyright (c) mmkd contributors. All rights reserved.
from typing import List, Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel

from mmkd.registry import MODELS


def check_positive_int(name: str, value) -> int:
    """``int(value)`` if it is a positive integer, else a ValueError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f'{name} must be a positive integer, got {value!r}')
    return value


@MODELS.register_module()
class MLPRegressor(BaseModel):
    """One-hidden-layer regression MLP: ``in -> hidden (Tanh) -> out``.

    The teacher (500 hidden units) and the students (50 or 25) of the
    data-free regression distillation of Zhou & Chiam (arXiv 2301.04338).
    Inputs and targets are standardised by the dataset
    (:class:`mmkd.TabularRegressionDataset`).

    Modes of :meth:`forward`:

    - ``'tensor'``: predictions, shape ``(B,)`` (``(B, out)`` if
      ``out_features > 1``);
    - ``'loss'``: ``dict(loss=MSE(pred, data_samples))``;
    - ``'predict'``: ``[dict(pred=Tensor[B], gt=Tensor[B])]``, one dict per
      batch, which :class:`mmkd.RMSE` consumes (``gt`` is omitted when
      ``data_samples`` is None).

    Args:
        in_features (int): number of input features.
        hidden (int): hidden units. Defaults to 500.
        out_features (int): number of targets. Defaults to 1.
        data_preprocessor (dict, optional): see :class:`BaseModel`.
        init_cfg (dict, optional): see :class:`BaseModule`.
    """

    def __init__(self, in_features: int, hidden: int = 500,
                 out_features: int = 1,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.in_features = check_positive_int('in_features', in_features)
        self.hidden = check_positive_int('hidden', hidden)
        self.out_features = check_positive_int('out_features', out_features)
        self.fc_in = nn.Linear(in_features, hidden)
        self.act = nn.Tanh()
        self.fc_out = nn.Linear(hidden, out_features)

    def _predict(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs.dim() != 2 or inputs.shape[1] != self.in_features:
            raise ValueError(
                f'{type(self).__name__} expects inputs of shape (B, '
                f'{self.in_features}), got {tuple(inputs.shape)}: the model '
                'and the data set disagree on the number of features (was '
                'the model trained on another data set?)')
        out = self.fc_out(self.act(self.fc_in(inputs)))
        return out.squeeze(-1) if self.out_features == 1 else out

    def forward(self, inputs: torch.Tensor,
                data_samples: Optional[torch.Tensor] = None,
                mode: str = 'tensor') -> Union[torch.Tensor, dict, List]:
        pred = self._predict(inputs)
        if mode == 'tensor':
            return pred
        if mode == 'loss':
            if data_samples is None:
                raise ValueError("mode='loss' needs the targets as "
                                 'data_samples')
            return dict(loss=F.mse_loss(pred, data_samples.to(pred)))
        if mode == 'predict':
            out = dict(pred=pred.detach())
            if data_samples is not None:
                out['gt'] = data_samples.detach().to(pred).reshape(pred.shape)
            return [out]
        raise ValueError(f"mode must be 'tensor', 'loss' or 'predict', got "
                         f'{mode!r}')
