# Copyright (c) mmkd contributors. All rights reserved.
"""Train "data" for data-free distillation: indices and seeds, no rows."""
import numpy as np
import torch
from torch.utils.data import Dataset

from mmkd.registry import DATASETS


@DATASETS.register_module()
class NoiseSeedDataset(Dataset):
    """Item ``i`` is ``dict(index=i, seed=s_i)`` and nothing else.

    A data-free distiller draws its synthetic inputs itself; the train
    dataloader only tells it which step it is at (``index``, the epoch of
    the paper when one Runner iteration runs one epoch) and which random
    stream to use (``seed``, derived from ``(seed, i)`` with numpy's
    ``SeedSequence``, so a run is reproducible from ``seed`` and does not
    depend on how many random numbers earlier steps consumed).

    Use it with ``sampler=dict(type='DefaultSampler', shuffle=False)`` so
    that iteration ``i`` gets item ``i``.

    Args:
        num_samples (int): number of items, normally the number of Runner
            iterations (``train_cfg.max_iters``).
        seed (int): base seed. Defaults to 0.
    """

    def __init__(self, num_samples: int, seed: int = 0):
        if int(num_samples) < 1:
            raise ValueError(f'num_samples must be >= 1, got {num_samples}')
        self.num_samples = int(num_samples)
        self.seed = int(seed)
        self._metainfo = dict(num_samples=self.num_samples, seed=self.seed)

    @property
    def metainfo(self) -> dict:
        return dict(self._metainfo)

    def __len__(self) -> int:
        return self.num_samples

    def item_seed(self, idx: int) -> int:
        """The seed of item ``idx`` (63-bit, non-negative)."""
        state = np.random.SeedSequence([self.seed, idx
                                        ]).generate_state(2, dtype=np.uint32)
        return (int(state[0]) << 31) | (int(state[1]) >> 1)

    def __getitem__(self, idx: int) -> dict:
        if not -self.num_samples <= idx < self.num_samples:
            raise IndexError(f'index {idx} out of range for '
                             f'{self.num_samples} items')
        idx %= self.num_samples
        return dict(
            index=torch.tensor(idx, dtype=torch.long),
            seed=torch.tensor(self.item_seed(idx), dtype=torch.long))
