# Copyright (c) mmkd contributors. All rights reserved.
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from mmkd.registry import METRICS


def _flat(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().double().numpy()
    return np.asarray(value, dtype=np.float64).reshape(-1)


@METRICS.register_module()
class RMSE(BaseMetric):
    """Root mean squared error of a regression model.

    Works on the outputs of :class:`mmkd.MLPRegressor` in ``predict`` mode:
    each output is a dict with ``pred`` and ``gt`` (a scalar or a batch of
    values, both on the standardised target scale).

    Reports ``rmse`` (standardised target, the number the data-free
    regression paper of Zhou & Chiam, arXiv 2301.04338, tabulates) and, when
    the dataset meta has ``y_std``, ``rmse_orig`` = ``rmse * y_std`` (the
    error in the target's original units).

    Args:
        collect_device (str): see :class:`mmengine.evaluator.BaseMetric`.
        prefix (str, optional): prefix of the metric names. Defaults to
            None (``rmse``, ``rmse_orig``).
    """

    default_prefix: Optional[str] = ''

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            if not (isinstance(sample, dict) and 'pred' in sample
                    and 'gt' in sample):
                raise TypeError(
                    'RMSE expects predict outputs that are dicts with '
                    f"'pred' and 'gt', got {type(sample).__name__}")
            pred, gt = _flat(sample['pred']), _flat(sample['gt'])
            if pred.shape != gt.shape:
                raise ValueError(f'pred has {pred.size} values but gt has '
                                 f'{gt.size}')
            self.results.append((float(np.square(pred - gt).sum()), pred.size))

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        total = sum(r[0] for r in results)
        count = sum(r[1] for r in results)
        if count == 0:
            raise ValueError('RMSE got no predictions to evaluate')
        rmse = float(np.sqrt(total / count))
        metrics = dict(rmse=rmse)
        meta = self.dataset_meta or {}
        if meta.get('y_std') is not None:
            metrics['rmse_orig'] = rmse * float(meta['y_std'])
        return metrics
