# Copyright (c) mmkd contributors. All rights reserved.
"""Tabular regression data read from a CSV file.

Used by the data-free regression distillation of Zhou & Chiam
(arXiv 2301.04338): the teacher is trained on it with the ordinary
supervised config; during distillation only the validation and test splits
are read, to measure the student.
"""
import csv
import functools
import math
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from mmkd.registry import DATASETS
from mmkd.utils.data_root import HOW_TO_GET_DATA, expand_data_root

ArrayLike = Union[np.ndarray, torch.Tensor, Sequence[float], float]

# Spellings of a missing cell, compared after stripping and lower-casing.
_MISSING = frozenset({'', 'na', 'nan', 'n/a', 'null', 'none', '?'})


def _is_number(text: str) -> bool:
    try:
        value = float(text)
    except ValueError:
        return False
    return math.isfinite(value)


@functools.lru_cache(maxsize=8)
def _read_csv(path: str, header: Union[str, bool],
              mtime: float) -> Tuple[Tuple[str, ...], np.ndarray]:
    """Parse a CSV into column names and a float64 matrix (cached by
    path, header mode and modification time; never mutate the result).

    Raises:
        ValueError: a row of the wrong width, or a missing or non-numeric
            cell; the message names the column, the data row (0-based) and
            the line of the file (1-based).
    """
    with open(path, newline='') as f:
        rows = [row for row in csv.reader(f) if row]
    if not rows:
        raise ValueError(f'{path}: the CSV file is empty')
    first = [cell.strip() for cell in rows[0]]
    if header == 'infer':
        has_header = not all(_is_number(cell) for cell in first)
    elif isinstance(header, bool):
        has_header = header
    else:
        raise ValueError(
            f"header must be 'infer', True or False, got {header!r}")
    names = (
        tuple(first) if has_header else tuple(f'col{i}'
                                              for i in range(len(first))))
    body = rows[1:] if has_header else rows
    line0 = 2 if has_header else 1
    if not body:
        raise ValueError(f'{path}: the CSV file has no data rows')
    data = np.empty((len(body), len(names)), dtype=np.float64)
    for r, row in enumerate(body):
        if len(row) != len(names):
            raise ValueError(
                f'{path}: data row {r} (line {r + line0}) has {len(row)} '
                f'fields, expected {len(names)} (one per column)')
        for c, cell in enumerate(row):
            text = cell.strip()
            where = (f"column {names[c]!r} (index {c}), data row {r} "
                     f'(line {r + line0} of the file)')
            if text.lower() in _MISSING:
                raise ValueError(
                    f'{path}: missing value {cell!r} in {where}; fill or '
                    'drop incomplete rows before training')
            if not _is_number(text):
                raise ValueError(
                    f'{path}: non-numeric value {cell!r} in {where}; every '
                    'column must be a finite number (a header row is '
                    "detected with header='infer' or header=True)")
            data[r, c] = float(text)
    return names, data


def read_regression_csv(
    path: str, header: Union[str, bool] = 'infer',
    target: Union[int,
                  str] = -1) -> Tuple[np.ndarray, np.ndarray, List[str], str]:
    """Read ``path`` and split it into features and target.

    Args:
        path (str): CSV file.
        header (str | bool): ``'infer'`` treats the first row as a header
            when any of its cells is not a number; ``True``/``False`` force.
        target (int | str): target column, by index (negative counts from
            the end) or by name (header files only). Defaults to the last.

    Returns:
        tuple: ``(x, y, feature_names, target_name)``, ``x`` of shape
        ``(N, D)`` and ``y`` of shape ``(N,)`` (float64 copies).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'regression CSV not found: {path} (for '
                                f'the configs: {HOW_TO_GET_DATA})')
    names, data = _read_csv(osp.abspath(path), header, os.stat(path).st_mtime)
    if len(names) < 2:
        raise ValueError(f'{path}: need at least one feature column and a '
                         f'target column, found {len(names)} column(s)')
    if isinstance(target, str):
        if target not in names:
            raise ValueError(
                f'{path}: target column {target!r} does not exist; the '
                f'columns are {list(names)}')
        index = names.index(target)
    elif isinstance(target, int) and not isinstance(target, bool):
        if not -len(names) <= target < len(names):
            raise ValueError(
                f'{path}: target column index {target} does not exist; the '
                f'file has {len(names)} columns (valid: {-len(names)}..'
                f'{len(names) - 1})')
        index = target % len(names)
    else:
        raise TypeError(f'target must be a column name or index, got '
                        f'{target!r}')
    keep = [i for i in range(len(names)) if i != index]
    return (data[:, keep].copy(), data[:, index].copy(),
            [names[i] for i in keep], names[index])


def split_indices(num_rows: int, num_train: int, val_ratio: float,
                  seed: int) -> dict:
    """Seeded split of the paper: a random permutation, ``num_train`` rows
    for training, ``floor(val_ratio * rest)`` of the rest for validation and
    the remainder for test.

    Raises:
        ValueError: when any of the three splits would be empty.
    """
    if not 0 < val_ratio < 1:
        raise ValueError(f'val_ratio must be in (0, 1), got {val_ratio}')
    rest = num_rows - num_train
    num_val = int(math.floor(val_ratio * rest))
    if num_train < 1 or num_val < 1 or rest - num_val < 1:
        need = num_train + max(2, math.ceil(1 / val_ratio) + 1)
        raise ValueError(
            f'the split needs more rows: {num_rows} rows cannot give '
            f'num_train={num_train} training rows plus a non-empty '
            f'validation ({val_ratio:.0%} of the rest) and test split; '
            f'use at least {need} rows or lower num_train')
    perm = np.random.default_rng(seed).permutation(num_rows)
    return dict(train=perm[:num_train],
                val=perm[num_train:num_train + num_val],
                test=perm[num_train + num_val:])


def _fit_standardiser(a: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Mean and population std (as scikit-learn's StandardScaler); a
    constant column gets std 1 so that it maps to 0 instead of NaN."""
    mean = a.mean(axis=0)
    std = a.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return mean, std


@DATASETS.register_module()
class TabularRegressionDataset(Dataset):
    """A standardised split of a regression CSV.

    The rows are split by ``split_seed`` as in Zhou & Chiam (arXiv
    2301.04338): ``num_train`` training rows, ``val_ratio`` of the rest for
    validation, the remainder for test. X and y are standardised with the
    mean and (population) standard deviation of the **training rows only**,
    whichever split is read; the statistics are in :attr:`metainfo`
    (``x_mean``, ``x_std``, ``y_mean``, ``y_std``) and the ``transform_*`` /
    ``inverse_transform_*`` methods apply them.

    Each item is ``dict(inputs=FloatTensor[D], data_samples=FloatTensor[])``
    (standardised features and target); use ``collate_fn=dict(
    type='default_collate')`` to get batched tensors.

    Args:
        ann_file (str): the CSV, relative to ``data_root`` unless absolute.
        data_root (str): folder of ``ann_file``; a leading
            ``${MMKD_DATA_ROOT}`` is the real-data folder
            (:mod:`mmkd.utils.data_root`). Defaults to ''.
        split (str): ``'train'``, ``'val'`` or ``'test'``.
        header (str | bool): ``'infer'``, ``True`` or ``False``.
        target (int | str): target column by index or name; default last.
        num_train (int): training rows. Defaults to 5000.
        val_ratio (float): share of the non-training rows used for
            validation. Defaults to 0.1.
        split_seed (int): seed of the permutation. Defaults to 0.
        max_rows (int, optional): use only the first ``max_rows`` data rows
            of the file (for quick tests). Defaults to None (all).
    """

    SPLITS = ('train', 'val', 'test')

    def __init__(self, ann_file: str, data_root: str = '',
                 split: str = 'train', header: Union[str, bool] = 'infer',
                 target: Union[int, str] = -1, num_train: int = 5000,
                 val_ratio: float = 0.1, split_seed: int = 0,
                 max_rows: Optional[int] = None):
        if split not in self.SPLITS:
            raise ValueError(f'split must be one of {self.SPLITS}, got '
                             f'{split!r}')
        data_root = expand_data_root(data_root)
        path = ann_file if osp.isabs(ann_file) else osp.join(
            data_root, ann_file)
        x, y, feature_names, target_name = read_regression_csv(
            path, header, target)
        if max_rows is not None:
            x, y = x[:max_rows], y[:max_rows]
        try:
            parts = split_indices(len(y), num_train, val_ratio, split_seed)
        except ValueError as err:
            raise ValueError(f'{path}: {err}') from None
        train = parts['train']
        self._x_mean, self._x_std = _fit_standardiser(x[train])
        y_mean, y_std = _fit_standardiser(y[train])
        self._y_mean, self._y_std = float(y_mean), float(y_std)
        rows = parts[split]
        self.indices = rows
        self.x = torch.from_numpy(self.transform_x(x[rows])).float()
        self.y = torch.from_numpy(self.transform_y(y[rows])).float()
        # per-row views made once: indexing a tensor per item is slow
        self._x_rows, self._y_rows = self.x.unbind(0), self.y.unbind(0)
        self._metainfo = dict(
            dataset_name=osp.splitext(osp.basename(path))[0], path=path,
            split=split, split_seed=split_seed, num_rows=dict(
                (k, len(v)) for k, v in parts.items()), in_features=x.shape[1],
            feature_names=feature_names, target_name=target_name,
            x_mean=self._x_mean.tolist(), x_std=self._x_std.tolist(),
            y_mean=self._y_mean, y_std=self._y_std)

    @property
    def metainfo(self) -> dict:
        """Split and standardisation statistics (a copy)."""
        return dict(self._metainfo)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, idx: int) -> dict:
        return dict(inputs=self._x_rows[idx], data_samples=self._y_rows[idx])

    # Standardisation with the training-row statistics. Each accepts numpy
    # arrays or tensors and returns the same kind.
    @staticmethod
    def _affine(a: ArrayLike, shift, scale, inverse: bool):
        if isinstance(a, torch.Tensor):
            shift = torch.as_tensor(shift, dtype=a.dtype, device=a.device)
            scale = torch.as_tensor(scale, dtype=a.dtype, device=a.device)
        else:
            a = np.asarray(a, dtype=np.float64)
        return a * scale + shift if inverse else (a - shift) / scale

    def transform_x(self, x: ArrayLike):
        """Raw features -> standardised features."""
        return self._affine(x, self._x_mean, self._x_std, False)

    def inverse_transform_x(self, x: ArrayLike):
        """Standardised features -> raw features."""
        return self._affine(x, self._x_mean, self._x_std, True)

    def transform_y(self, y: ArrayLike):
        """Raw target -> standardised target."""
        return self._affine(y, self._y_mean, self._y_std, False)

    def inverse_transform_y(self, y: ArrayLike):
        """Standardised target (e.g. a prediction) -> original units."""
        return self._affine(y, self._y_mean, self._y_std, True)
