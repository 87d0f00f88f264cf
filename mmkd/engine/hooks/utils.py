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
    return hasattr(unwrap_model(model), 'distill_entries')


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


def _batch_size(loader) -> int:
    # a loader built with a batch_sampler (mmdet's AspectRatioBatchSampler)
    # has batch_size None; its batch sampler knows
    size = loader.batch_size or getattr(loader.batch_sampler, 'batch_size',
                                        None)
    return size or 1


def num_train_batches(runner, max_batches: int) -> int:
    loader = runner.train_dataloader
    size = _batch_size(loader)
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
    size = _batch_size(loader)
    dataset = loader.dataset
    for start in range(0, num_train_batches(runner, max_batches) * size,
                       size):
        indices = range(start, min(start + size, len(dataset)))
        yield loader.collate_fn([dataset[i] for i in indices])
