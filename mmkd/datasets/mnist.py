# Copyright (c) mmkd contributors. All rights reserved.
"""MNIST read from the official IDX files."""
import gzip
import struct
from pathlib import Path
from typing import Tuple

import numpy as np

from mmkd.registry import DATASETS
from mmkd.utils.data_root import (DATA_ROOT_ENV, HOW_TO_GET_DATA,
                                  expand_data_root)
from .in_memory_cls_dataset import InMemoryClsDataset

IDX_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
IDX_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension


def read_idx(path: Path, expected_magic: int) -> np.ndarray:
    """Decode an IDX file of unsigned bytes (gzipped if its name ends in
    ``.gz``).

    Args:
        path (Path): the file.
        expected_magic (int): its magic number, e.g. ``0x803`` for MNIST
            images (N x rows x cols) and ``0x801`` for labels (N).

    Returns:
        np.ndarray: uint8 array of the dimensions given by the header.
    """
    opener = gzip.open if path.suffix == '.gz' else open
    try:
        with opener(path, 'rb') as f:
            data = f.read()
    except (OSError, EOFError) as err:
        raise ValueError(f'cannot read the IDX file {path}: {err}') from err
    magic = struct.unpack('>I', data[:4])[0] if len(data) >= 4 else None
    if magic != expected_magic:
        found = 'no header' if magic is None else f'0x{magic:08x}'
        raise ValueError(
            f'{path} is not the IDX file expected: magic number {found}, '
            f'expected 0x{expected_magic:08x} (0x803 for images, 0x801 for '
            'labels). Check the file is the right one and not corrupt.')
    ndim = expected_magic & 0xFF
    header = 4 + 4 * ndim
    dims = struct.unpack(f'>{ndim}I', data[4:header])
    payload = np.frombuffer(data, dtype=np.uint8, offset=header)
    if payload.size != int(np.prod(dims)):
        raise ValueError(f'{path} is truncated or corrupt: its header gives '
                         f'dimensions {dims} ({int(np.prod(dims))} values) '
                         f'but it holds {payload.size}')
    return payload.reshape(dims)


@DATASETS.register_module()
class MNIST(InMemoryClsDataset):
    """MNIST handwritten digits (28 x 28 grey, 10 classes).

    Reads the official IDX pair ``{source}-images-idx3-ubyte`` /
    ``{source}-labels-idx1-ubyte`` (each plain or ``.gz``) from
    ``data_root``. Images are 28 x 28 x 1 uint8 arrays under ``img``.

    Where only the official 10k test files exist (as in
    ``$MMKD_DATA_ROOT/mnist``), ``split`` cuts them into a seeded, disjoint
    train/val partition: ``num_val`` images drawn by ``split_seed`` form
    ``'val'``, the others ``'train'``; both keep the file order.

    Args:
        data_root (str): directory holding the IDX files; a leading
            ``${MMKD_DATA_ROOT}`` is the real-data folder
            (:mod:`mmkd.utils.data_root`).
        source (str): which official files to read, ``'t10k'`` (10,000
            test images) or ``'train'`` (60,000). Defaults to ``'t10k'``.
        split (str): ``'all'`` (every image of ``source``), ``'train'`` or
            ``'val'``. Defaults to ``'all'``.
        num_val (int): size of the ``'val'`` split. Defaults to 2000.
        split_seed (int): seed of the train/val partition. Defaults to 0.
        **kwargs: other arguments of :class:`mmengine.dataset.BaseDataset`
            (``pipeline``, ``test_mode``, ``indices``...).
    """
    METAINFO = dict(classes=tuple(str(i) for i in range(10)))
    SOURCES = ('t10k', 'train')
    SPLITS = ('all', 'train', 'val')

    def __init__(self, data_root: str, source: str = 't10k',
                 split: str = 'all', num_val: int = 2000, split_seed: int = 0,
                 **kwargs) -> None:
        if source not in self.SOURCES:
            raise ValueError(f'source must be one of {self.SOURCES}, got '
                             f'{source!r}')
        if split not in self.SPLITS:
            raise ValueError(f'split must be one of {self.SPLITS}, got '
                             f'{split!r}')
        if isinstance(num_val, bool) or not isinstance(num_val, int) \
                or num_val < 1:
            raise ValueError(
                f'num_val must be a positive int, got {num_val!r}')
        self.source, self.split = source, split
        self.num_val, self.split_seed = num_val, split_seed
        data_root = expand_data_root(data_root)
        self.img_file = self._find_file(data_root, 'images-idx3-ubyte')
        self.label_file = self._find_file(data_root, 'labels-idx1-ubyte')
        super().__init__(data_root=data_root, **kwargs)

    def _find_file(self, data_root: str, kind: str) -> Path:
        name = f'{self.source}-{kind}'
        for candidate in (name, name + '.gz'):
            path = Path(data_root) / candidate
            if path.is_file():
                return path
        expected = ', '.join(f'{self.source}-{k}[.gz]'
                             for k in ('images-idx3-ubyte',
                                       'labels-idx1-ubyte'))
        raise FileNotFoundError(
            f'MNIST: {name} (or {name}.gz) not found in data_root '
            f'{str(data_root)!r}; it must hold the official IDX files '
            f'{expected}. For the configs\' ${{{DATA_ROOT_ENV}}}/mnist: '
            f'{HOW_TO_GET_DATA}.')

    def split_indices(self, num_samples: int) -> np.ndarray:
        """Indices of ``self.split`` among ``num_samples`` images."""
        if self.split == 'all':
            return np.arange(num_samples)
        if self.num_val >= num_samples:
            raise ValueError(f'num_val={self.num_val} leaves no training '
                             f'image out of the {num_samples} in '
                             f'{self.img_file}')
        perm = np.random.default_rng(self.split_seed).permutation(num_samples)
        chosen = perm[:self.num_val] if self.split == 'val' \
            else perm[self.num_val:]
        return np.sort(chosen)

    def load_arrays(self) -> Tuple[np.ndarray, np.ndarray]:
        imgs = read_idx(self.img_file, IDX_IMAGES_MAGIC)
        labels = read_idx(self.label_file, IDX_LABELS_MAGIC)
        if len(imgs) != len(labels):
            raise ValueError(f'{self.img_file} holds {len(imgs)} images but '
                             f'{self.label_file} {len(labels)} labels')
        keep = self.split_indices(len(imgs))
        return imgs[keep, :, :, None], labels[keep]
