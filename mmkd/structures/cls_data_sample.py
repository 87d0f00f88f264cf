# Copyright (c) mmkd contributors. All rights reserved.
"""Data sample of single-label image classification."""
from numbers import Integral
from typing import Callable, Dict

import numpy as np
import torch
from mmengine.structures import BaseDataElement


def _to_label(value, name: str) -> torch.Tensor:
    """Turn an int, numpy scalar/array or tensor holding one class index into
    a LongTensor of shape (1,)."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f'{name} must be an integer class index, got a bool')
    if isinstance(value, Integral):
        return torch.tensor([int(value)], dtype=torch.long)
    if isinstance(value, (np.ndarray, np.generic, torch.Tensor)):
        tensor = torch.as_tensor(value)
        if tensor.dtype == torch.bool or tensor.is_floating_point() \
                or tensor.is_complex():
            raise TypeError(f'{name} must hold an integer class index, got '
                            f'dtype {tensor.dtype}; cast it with .long() or '
                            '.astype(np.int64)')
        if tensor.numel() != 1:
            raise ValueError(f'{name} must hold exactly one class index '
                             '(single-label classification), got shape '
                             f'{tuple(tensor.shape)}')
        return tensor.reshape(1).long()
    raise TypeError(f'{name} must be an int, a numpy array or a tensor, got '
                    f'{type(value).__name__}')


def _to_score(value, name: str) -> torch.Tensor:
    """Turn a sequence, numpy array or tensor of C class scores into a
    floating tensor of shape (C,)."""
    if isinstance(value, (list, tuple)):
        value = torch.tensor(value, dtype=torch.float32)
    if not isinstance(value, (np.ndarray, torch.Tensor)):
        raise TypeError(f'{name} must be a numpy array or a tensor of class '
                        f'scores, got {type(value).__name__}')
    tensor = torch.as_tensor(value)
    if tensor.ndim != 1:
        raise ValueError(f'{name} must be a 1-D vector of C class scores, '
                         f'got shape {tuple(tensor.shape)}')
    return tensor if tensor.is_floating_point() else tensor.float()


class ClsDataSample(BaseDataElement):
    """Annotation and prediction of one image for classification.

    Data fields (all optional):

    * ``gt_label`` (LongTensor, shape (1,)): the ground-truth class index.
    * ``pred_label`` (LongTensor, shape (1,)): the predicted class index.
    * ``pred_score`` (FloatTensor, shape (C,)): the class scores
      (probabilities after softmax).

    Each can be given as an int, a numpy array/scalar or a tensor, through
    ``set_gt_label`` (and friends, which return ``self`` for chaining) or by
    plain assignment (``sample.gt_label = 3``): both convert and validate.

    Examples:
        >>> sample = ClsDataSample().set_gt_label(3)
        >>> sample.gt_label
        tensor([3])
        >>> sample.set_pred_score(torch.tensor([0.1, 0.9])).pred_score.shape
        torch.Size([2])
    """

    _CONVERTERS: Dict[str, Callable] = {
        'gt_label': _to_label,
        'pred_label': _to_label,
        'pred_score': _to_score,
    }

    def __setattr__(self, name: str, value) -> None:
        converter = self._CONVERTERS.get(name)
        if converter is not None:
            value = converter(value, name)
        super().__setattr__(name, value)

    def set_gt_label(self, value) -> 'ClsDataSample':
        """Set ``gt_label`` from an int, numpy array or tensor."""
        self.gt_label = value
        return self

    def set_pred_label(self, value) -> 'ClsDataSample':
        """Set ``pred_label`` from an int, numpy array or tensor."""
        self.pred_label = value
        return self

    def set_pred_score(self, value) -> 'ClsDataSample':
        """Set ``pred_score`` (C class scores) from a numpy array or
        tensor."""
        self.pred_score = value
        return self
