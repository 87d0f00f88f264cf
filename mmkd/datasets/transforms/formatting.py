# Copyright (c) mmkd contributors. All rights reserved.
"""Packing of a classification sample into model inputs."""
from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform

from mmkd.registry import TRANSFORMS
from mmkd.structures import ClsDataSample


@TRANSFORMS.register_module()
class PackClsInputs(BaseTransform):
    """Pack an image and its label into ``dict(inputs, data_samples)``.

    ``inputs`` is the image as a C x H x W tensor of the image's dtype (a
    grey H x W image gets one channel); normalisation is left to the model's
    data preprocessor. ``data_samples`` is a :class:`ClsDataSample` with
    ``gt_label`` (when ``results`` has one) and the ``meta_keys`` found in
    ``results`` as metainfo.

    Args:
        meta_keys (Sequence[str]): keys copied into the metainfo if present.
            Defaults to ``('sample_idx', 'img_shape', 'ori_shape', 'flip')``.
    """

    def __init__(
        self, meta_keys: Sequence[str] = ('sample_idx', 'img_shape',
                                          'ori_shape', 'flip')
    ) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        img = results['img']
        if not isinstance(img, np.ndarray) or img.ndim not in (2, 3):
            raise TypeError('PackClsInputs expects results["img"] to be an '
                            'H x W or H x W x C numpy array, got '
                            f'{getattr(img, "shape", type(img).__name__)}')
        if img.ndim == 2:
            img = img[:, :, None]
        inputs = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        sample = ClsDataSample(
            metainfo={k: results[k]
                      for k in self.meta_keys if k in results})
        if 'gt_label' in results:
            sample.set_gt_label(results['gt_label'])
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(meta_keys={self.meta_keys})'
