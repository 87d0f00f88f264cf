# Copyright (c) mmkd contributors. All rights reserved.
"""Random area / aspect-ratio crop resized to a fixed size (ImageNet
training augmentation)."""
import math
from numbers import Real
from typing import Sequence, Tuple

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from mmkd.registry import TRANSFORMS
from .processing import _positive_pair


def _range(value, name: str, upper: float = math.inf) -> Tuple[float, float]:
    """``value`` as a ``(min, max)`` pair with ``0 < min <= max <= upper``."""
    pair = tuple(value) if isinstance(value, Sequence) else ()
    if len(pair) != 2 or not all(
            isinstance(v, Real) and not isinstance(v, bool) for v in pair) \
            or not 0 < pair[0] <= pair[1] <= upper:
        bound = '' if upper == math.inf else f' <= {upper:g}'
        raise ValueError(f'{name} must be a (min, max) pair with 0 < min <= '
                         f'max{bound}, got {value!r}')
    return float(pair[0]), float(pair[1])


@TRANSFORMS.register_module()
class RandomResizedCropCls(BaseTransform):
    """Crop a random window of random area and aspect ratio, then resize it
    to ``size`` (the "Inception" augmentation, Szegedy et al., CVPR 2015,
    used by the ImageNet recipes of the KD literature).

    Up to ``max_attempts`` windows are drawn with area ``U(scale) * H * W``
    and aspect ratio (w / h) log-uniform in ``ratio``; the first that fits
    in the image is used, at a uniform random position. If none fits, the
    largest centred window whose ratio is ``ratio`` clamped to its range is
    used.

    Required keys: ``img``. Modified keys: ``img``, ``img_shape``.

    Args:
        size (int | tuple[int, int]): output (h, w); an int means square.
        scale (tuple[float, float]): range of the window area as a fraction
            of the image area, in (0, 1]. Defaults to (0.08, 1.0).
        ratio (tuple[float, float]): range of the window aspect ratio
            w / h, > 0. Defaults to (3 / 4, 4 / 3).
        max_attempts (int): windows drawn before the fallback. Defaults
            to 10.
        interpolation (str): mmcv interpolation of the resize. Defaults to
            ``'bilinear'``.
    """

    def __init__(self, size, scale: Tuple[float, float] = (0.08, 1.0),
                 ratio: Tuple[float,
                              float] = (3 / 4, 4 / 3), max_attempts: int = 10,
                 interpolation: str = 'bilinear') -> None:
        self.size = _positive_pair(size, 'size', 1)
        self.scale = _range(scale, 'scale', upper=1.0)
        self.ratio = _range(ratio, 'ratio')
        if isinstance(
                max_attempts,
                bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValueError('max_attempts must be an int >= 1, got '
                             f'{max_attempts!r}')
        self.max_attempts = max_attempts
        self.interpolation = interpolation

    @cache_randomness
    def crop_box(self, height: int, width: int) -> Tuple[int, int, int, int]:
        """A window ``(top, left, h, w)`` of an ``height`` x ``width``
        image."""
        area = height * width
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(self.max_attempts):
            target = area * np.random.uniform(*self.scale)
            aspect = math.exp(np.random.uniform(*log_ratio))
            w = int(round(math.sqrt(target * aspect)))
            h = int(round(math.sqrt(target / aspect)))
            if 0 < w <= width and 0 < h <= height:
                top = np.random.randint(0, height - h + 1)
                left = np.random.randint(0, width - w + 1)
                return top, left, h, w
        # fallback: the largest centred window of a ratio within range
        aspect = min(max(width / height, self.ratio[0]), self.ratio[1])
        if width / height > aspect:
            h = height
            w = min(width, int(round(h * aspect)))
        else:
            w = width
            h = min(height, int(round(w / aspect)))
        return (height - h) // 2, (width - w) // 2, h, w

    def transform(self, results: dict) -> dict:
        img = results['img']
        top, left, h, w = self.crop_box(*img.shape[:2])
        img = img[top:top + h, left:left + w]
        out_h, out_w = self.size
        results['img'] = mmcv.imresize(img, (out_w, out_h),
                                       interpolation=self.interpolation)
        results['img_shape'] = self.size
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(size={self.size}, scale='
                f'{self.scale}, ratio={self.ratio}, max_attempts='
                f'{self.max_attempts}, interpolation={self.interpolation})')
