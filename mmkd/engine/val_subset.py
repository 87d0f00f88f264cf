# Copyright (c) mmkd contributors. All rights reserved.
"""Evaluate a model on (part of) a run's validation set in one process,
with the run's own validation pipeline and metric, outside its loops."""
from typing import Callable, Dict, List, Sequence

from mmengine.evaluator import Evaluator

from .hooks.utils import loader_batch_size


class ValSubset:
    """At most ``num_batches`` batches of the validation loop's data set,
    taken evenly over it (all of it when it is that small), collated as
    the loop's data loader collates them but without its sampler (one
    process sees all of them) or its workers.

    Args:
        loop: the run's validation loop (mmengine's ``ValLoop``: its
            ``dataloader``).
        num_batches (int): the most batches to take.
    """

    def __init__(self, loop, num_batches: int) -> None:
        loader = loop.dataloader
        self.dataset = loader.dataset
        self.collate_fn = loader.collate_fn
        self.batch_size = loader_batch_size(loader)
        total = len(self.dataset)
        count = min(total, max(1, num_batches) * self.batch_size)
        #: the data set indices evaluated, in order
        self.indices: List[int] = [i * total // count for i in range(count)]

    @property
    def whole(self) -> bool:
        """Whether every validation sample is evaluated."""
        return len(self.indices) == len(self.dataset)

    def describe(self) -> str:
        """``'64 of 64 validation samples'``."""
        return (f'{len(self.indices)} of {len(self.dataset)} validation '
                'samples')

    def batches(self):
        """The collated batches (the pipeline runs here, in order)."""
        size = self.batch_size
        for start in range(0, len(self.indices), size):
            yield self.collate_fn(
                [self.dataset[i] for i in self.indices[start:start + size]])

    def evaluator(self, runner) -> Evaluator:
        """A fresh evaluator of the run's ``val_evaluator`` for these
        images (mmdet's ``CocoMetric`` is told their image ids, as it would
        otherwise count every image of its annotation file)."""
        evaluator = runner.build_evaluator(runner.cfg.val_evaluator)
        evaluator.dataset_meta = self.dataset.metainfo
        if not self.whole:
            restrict_coco_images(evaluator.metrics,
                                 [self.image_id(i) for i in self.indices])
        return evaluator

    def image_id(self, index: int):
        info = self.dataset.get_data_info(index)
        return info.get('img_id', index)

    def evaluate(self, runner,
                 predict: Callable[[dict], Sequence]) -> Dict[str, float]:
        """The metrics of ``predict(batch)`` (a model's ``predict``-mode
        outputs) over these images, as the run's validation reports them
        (keys with the metrics' prefixes)."""
        evaluator = self.evaluator(runner)
        for batch in self.batches():
            evaluator.process(data_samples=predict(batch), data_batch=batch)
        metrics = {}
        for metric in evaluator.metrics:
            # BaseMetric.evaluate without its gathering over processes
            # (one process evaluates here): the same keys and values
            values = metric.compute_metrics(metric.results)
            if metric.prefix:
                values = {f'{metric.prefix}/{k}': v for k, v in values.items()}
            metrics.update(values)
            metric.results.clear()
        return metrics


def restrict_coco_images(metrics, img_ids: List) -> None:
    """Make mmdet's ``CocoMetric`` evaluate only ``img_ids``."""
    try:
        from mmdet.evaluation import CocoMetric
    except ImportError:  # no mmdet: no CocoMetric in the run
        return
    for metric in metrics:
        if isinstance(metric, CocoMetric):
            metric.img_ids = list(img_ids)
