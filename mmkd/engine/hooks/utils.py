# Copyright (c) mmkd contributors. All rights reserved.
import random
from contextlib import contextmanager

import numpy as np
import torch
from mmengine.model import is_model_wrapper


def unwrap_model(model):
    """The model inside DDP/FSDP wrappers."""
    return model.module if is_model_wrapper(model) else model


def is_distiller(model) -> bool:
    """Whether ``model`` (or the model in a DDP/FSDP wrapper) is an mmkd
    distiller (:class:`~mmkd.models.distillers.BaseDistiller`)."""
    from mmkd.models.distillers.base import BaseDistiller
    return isinstance(unwrap_model(model), BaseDistiller)


@contextmanager
def preserved_rng_state():
    """Restore the global random states of Python, NumPy and torch (CPU) on
    exit, so that a pass over the data before training (e.g. to initialise a
    loss) shifts no random stream."""
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])


def loader_batch_size(loader) -> int:
    """The number of samples per batch of a data loader."""
    # a loader built with a batch_sampler (mmdet's AspectRatioBatchSampler)
    # has batch_size None; its batch sampler knows
    size = loader.batch_size or getattr(loader.batch_sampler, 'batch_size',
                                        None)
    return size or 1


def num_train_batches(runner, max_batches: int) -> int:
    loader = runner.train_dataloader
    size = loader_batch_size(loader)
    return min(max_batches, -(-len(loader.dataset) // size))


def train_batches(runner, max_batches: int):
    """Collated training batches taken from the data set in order (at most
    ``max_batches``), for a look at the data before training.

    The runner's data loader itself is not iterated: a second iterator over
    an ``InfiniteSampler`` would close the generator the training loop shares
    with it, and would shift a shuffling sampler's stream. Use inside
    :func:`preserved_rng_state` (the pipeline may draw random numbers).
    """
    loader = runner.train_dataloader
    size = loader_batch_size(loader)
    dataset = loader.dataset
    for start in range(0, num_train_batches(runner, max_batches) * size, size):
        indices = range(start, min(start + size, len(dataset)))
        yield loader.collate_fn([dataset[i] for i in indices])


def rank_train_batches(runner, max_batches: int):
    """This process's share of :func:`train_batches`: ``(index, batch)`` for
    the batches ``index`` in ``range(num_train_batches(...))`` with
    ``index % world_size == rank``.

    Batch ``index`` is built with Python's, NumPy's and torch's random
    streams seeded from ``(runner.seed, index)``, so a random pipeline
    draws the same for it on any rank: over all ranks the batches are
    exactly those one process sees, and a statistic reduced over the ranks
    is the single-process one for any number of processes. Use inside
    :func:`preserved_rng_state`.
    """
    from mmengine.dist import get_dist_info
    rank, world_size = get_dist_info()
    loader = runner.train_dataloader
    size = loader_batch_size(loader)
    dataset = loader.dataset
    base = int(getattr(runner, 'seed', None) or 0)
    for index in range(rank, num_train_batches(runner, max_batches),
                       world_size):
        seed = (base * 1000003 + index) % 2**32
        random.seed(seed)
        np.random.seed(seed)
        torch.default_generator.manual_seed(seed)  # CPU stream only
        indices = range(index * size, min((index + 1) * size, len(dataset)))
        yield index, loader.collate_fn([dataset[i] for i in indices])
