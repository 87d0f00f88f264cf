# Copyright (c) mmkd contributors. All rights reserved.
"""Top-k classification accuracy."""
from collections.abc import Mapping
from numbers import Integral
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.evaluator import BaseMetric

from mmkd.registry import METRICS


def _field(data_sample: Any, key: str) -> torch.Tensor:
    """``data_sample[key]`` for a dict (as the Evaluator passes) or a data
    element."""
    found = data_sample.get(key) if isinstance(data_sample, Mapping) \
        else getattr(data_sample, key, None)
    if found is None:
        raise KeyError(f'Accuracy needs {key!r} in every data sample; the '
                       'model must fill it (ClsDataSample.set_pred_score / '
                       'set_gt_label)')
    return torch.as_tensor(found)


@METRICS.register_module()
class Accuracy(BaseMetric):
    """Top-k accuracy, in percent, from ``pred_score`` and ``gt_label``.

    A sample counts as correct at k if its ground-truth class is among the
    k highest scores. Results are named ``accuracy/top{k}``.

    Args:
        topk (int | Sequence[int]): the k values. Defaults to ``(1,)``.
        collect_device (str): ``'cpu'`` or ``'gpu'``, where results of all
            ranks are gathered. Defaults to ``'cpu'``.
        prefix (str, optional): replaces ``'accuracy'`` in the names.
    """
    default_prefix: Optional[str] = 'accuracy'

    def __init__(self, topk: Union[int, Sequence[int]] = (1, ),
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        ks = (topk, ) if not isinstance(topk, Sequence) else tuple(topk)
        if not ks or not all(
                isinstance(k, Integral) and not isinstance(k, bool) and k >= 1
                for k in ks):
            raise ValueError('topk must be a positive int or a non-empty '
                             f'sequence of them, got {topk!r}')
        self.topk: Tuple[int, ...] = tuple(int(k) for k in ks)

    def process(self, data_batch: Any, data_samples: Sequence) -> None:
        for data_sample in data_samples:
            score = _field(data_sample, 'pred_score').detach().cpu()
            label = _field(data_sample, 'gt_label').detach().cpu().view(-1)
            if score.ndim != 1 or label.numel() != 1:
                raise ValueError(
                    'Accuracy expects pred_score of shape (C,) and one '
                    f'gt_label, got {tuple(score.shape)} and '
                    f'{tuple(label.shape)}')
            if max(self.topk) > score.numel():
                raise ValueError(
                    f'topk={self.topk} asks for more classes than the '
                    f'{score.numel()} that pred_score has; use k <= '
                    f'{score.numel()}')
            self.results.append(dict(pred_score=score, gt_label=label))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        scores = torch.stack([r['pred_score'] for r in results])
        labels = torch.cat([r['gt_label'] for r in results])
        ranked = scores.topk(max(self.topk), dim=1).indices
        hits = ranked == labels[:, None]
        return {
            f'top{k}': hits[:, :k].any(dim=1).float().mean().item() * 100
            for k in self.topk
        }
