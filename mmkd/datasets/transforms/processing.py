# Copyright (c) mmkd contributors. All rights reserved.
"""Augmentations of classification images (HWC or HW numpy arrays)."""
from numbers import Integral, Real
from typing import Sequence, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from mmkd.registry import TRANSFORMS


def _positive_pair(value, name: str, minimum: int) -> Tuple[int, int]:
    """``value`` as an (h, w) pair of ints >= ``minimum``."""
    pair = (value, value) if isinstance(value, Integral) else tuple(value) \
        if isinstance(value, Sequence) else None
    if pair is None or len(pair) != 2 or not all(
            isinstance(v, Integral) and not isinstance(v, bool)
            and v >= minimum for v in pair):
        raise ValueError(f'{name} must be an int >= {minimum} or an (h, w) '
                         f'pair of them, got {value!r}')
    return int(pair[0]), int(pair[1])


@TRANSFORMS.register_module()
class RandomCropPad(BaseTransform):
    """Pad the image on every side, then crop a random window (the CIFAR
    augmentation of He et al., 2016: 4-pixel padding, 32 x 32 crop).

    Required keys: ``img``. Modified keys: ``img``, ``img_shape``.

    Args:
        size (int | tuple[int, int]): crop (h, w); an int means square.
        padding (int | tuple[int, int]): pixels added above and below
            (first) and left and right (second). Defaults to 0.
        pad_val (int | float): value of the padding. Defaults to 0.
    """

    def __init__(self, size: Union[int, Tuple[int, int]],
                 padding: Union[int, Tuple[int, int]] = 0,
                 pad_val: Real = 0) -> None:
        self.size = _positive_pair(size, 'size', 1)
        self.padding = _positive_pair(padding, 'padding', 0)
        self.pad_val = pad_val

    @cache_randomness
    def _random_offset(self, height: int, width: int) -> Tuple[int, int]:
        return (np.random.randint(0, height - self.size[0] + 1),
                np.random.randint(0, width - self.size[1] + 1))

    def transform(self, results: dict) -> dict:
        img = results['img']
        pad_h, pad_w = self.padding
        if pad_h or pad_w:
            widths = [(pad_h, pad_h), (pad_w, pad_w)]
            widths += [(0, 0)] * (img.ndim - 2)
            img = np.pad(img, widths, constant_values=self.pad_val)
        height, width = img.shape[:2]
        if height < self.size[0] or width < self.size[1]:
            raise ValueError(f'RandomCropPad: crop size {self.size} exceeds '
                             f'the padded image ({height}, {width}); lower '
                             'size or raise padding')
        top, left = self._random_offset(height, width)
        img = img[top:top + self.size[0], left:left + self.size[1]]
        results['img'] = np.ascontiguousarray(img)
        results['img_shape'] = self.size
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(size={self.size}, '
                f'padding={self.padding}, pad_val={self.pad_val})')


@TRANSFORMS.register_module()
class RandomFlipCls(BaseTransform):
    """Flip the image left-right with probability ``prob``.

    Required keys: ``img``. Modified keys: ``img``. Added keys: ``flip``.

    Args:
        prob (float): flip probability in [0, 1]. Defaults to 0.5.
    """

    def __init__(self, prob: float = 0.5) -> None:
        if isinstance(prob, bool) or not isinstance(prob, Real) \
                or not 0 <= prob <= 1:
            raise ValueError(f'prob must be a number in [0, 1], got {prob!r}')
        self.prob = float(prob)

    @cache_randomness
    def _do_flip(self) -> bool:
        return bool(np.random.rand() < self.prob)

    def transform(self, results: dict) -> dict:
        flip = self._do_flip()
        if flip:
            results['img'] = np.ascontiguousarray(results['img'][:, ::-1])
        results['flip'] = flip
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(prob={self.prob})'
