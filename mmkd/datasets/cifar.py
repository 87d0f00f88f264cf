# Copyright (c) mmkd contributors. All rights reserved.
"""CIFAR-100 read from the official python pickles."""
import pickle
from pathlib import Path
from typing import Tuple

import numpy as np

from mmkd.registry import DATASETS
from .in_memory_cls_dataset import InMemoryClsDataset

CIFAR_URL = 'https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz'


def load_cifar_pickle(path: Path) -> dict:
    """Load one CIFAR pickle, with its bytes keys turned into str."""
    with open(path, 'rb') as f:
        try:
            content = pickle.load(f, encoding='bytes')
        except Exception as err:
            raise ValueError(f'{path} is not a readable CIFAR pickle: '
                             f'{err}') from err
    if not isinstance(content, dict):
        raise ValueError(f'{path} must hold a dict, got '
                         f'{type(content).__name__}')
    return {
        k.decode() if isinstance(k, bytes) else k: v
        for k, v in content.items()
    }


@DATASETS.register_module()
class CIFAR100(InMemoryClsDataset):
    """CIFAR-100 (32 x 32 RGB, 100 fine classes).

    Reads ``cifar-100-python/{train,test,meta}`` as extracted from
    ``cifar-100-python.tar.gz``; ``data_root`` may be the folder containing
    ``cifar-100-python`` or that folder itself. Labels are the fine labels
    and ``metainfo['classes']`` the fine label names of ``meta``. Images are
    32 x 32 x 3 uint8 arrays in **RGB** order under ``img`` (so the data
    preprocessor needs no channel swap).

    Args:
        data_root (str): see above.
        split (str): ``'train'`` (50,000 images) or ``'test'`` (10,000).
            Defaults to ``'train'``.
        **kwargs: other arguments of :class:`mmengine.dataset.BaseDataset`.
    """
    FOLDER = 'cifar-100-python'
    SPLITS = ('train', 'test')
    IMG_SHAPE = (32, 32, 3)

    def __init__(self, data_root: str, split: str = 'train', **kwargs):
        if split not in self.SPLITS:
            raise ValueError(f'split must be one of {self.SPLITS}, got '
                             f'{split!r}')
        self.split = split
        self.folder = self._find_folder(data_root)
        meta = load_cifar_pickle(self.folder / 'meta')
        if 'fine_label_names' not in meta:
            raise ValueError(f'{self.folder / "meta"} has no '
                             "'fine_label_names'; is it CIFAR-100's meta?")
        classes = tuple(n.decode() if isinstance(n, bytes) else str(n)
                        for n in meta['fine_label_names'])
        # classes given in ``metainfo`` (e.g. renamed) take precedence
        metainfo = {'classes': classes, **(kwargs.pop('metainfo', None) or {})}
        super().__init__(data_root=data_root, metainfo=metainfo, **kwargs)

    def _find_folder(self, data_root: str) -> Path:
        root = Path(data_root)
        for folder in (root / self.FOLDER, root):
            if all((folder / name).is_file() for name in (self.split, 'meta')):
                return folder
        hint = ''
        if (root / f'{self.FOLDER}.tar.gz').is_file():
            hint = (f' {root / self.FOLDER}.tar.gz is there but not '
                    f'extracted: run `tar -xzf {self.FOLDER}.tar.gz` in '
                    f'{root}.')
        raise FileNotFoundError(
            f'CIFAR100: no {self.FOLDER}/{self.split} and '
            f'{self.FOLDER}/meta under data_root {str(data_root)!r}.{hint} '
            f'Download {CIFAR_URL} and extract it into data_root '
            f'(`tar -xzf cifar-100-python.tar.gz -C {data_root}`).')

    def load_arrays(self) -> Tuple[np.ndarray, np.ndarray]:
        path = self.folder / self.split
        content = load_cifar_pickle(path)
        missing = {'data', 'fine_labels'} - set(content)
        if missing:
            raise ValueError(f'{path} lacks the keys {sorted(missing)} of a '
                             'CIFAR-100 pickle')
        data = np.asarray(content['data'])
        flat = int(np.prod(self.IMG_SHAPE))
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != flat:
            raise ValueError(f"{path}: 'data' must be N x {flat} uint8, got "
                             f'{data.shape} {data.dtype}')
        # rows are the R, G then B planes, each 32 x 32 row-major
        h, w, c = self.IMG_SHAPE
        imgs = data.reshape(-1, c, h, w).transpose(0, 2, 3, 1)
        return np.ascontiguousarray(imgs), np.asarray(content['fine_labels'])
