# Copyright (c) mmkd contributors. All rights reserved.
"""Base of classification datasets decoded into memory at once."""
from typing import List, Tuple

import numpy as np
from mmengine.dataset import BaseDataset


class InMemoryClsDataset(BaseDataset):
    """Classification dataset whose images are decoded into memory once.

    Subclasses implement :meth:`load_arrays`, returning all images and labels
    as arrays, and put ``classes`` in the metainfo. Each data info is
    ``dict(img, gt_label, img_shape, ori_shape)`` with ``img`` an HWC uint8
    array, so no file is read per sample and the pipeline starts directly
    with augmentation (no loading transform).
    """

    def load_arrays(self) -> Tuple[np.ndarray, np.ndarray]:
        """Return ``(imgs, labels)``: N x H x W x C uint8 and N integers."""
        raise NotImplementedError

    def load_data_list(self) -> List[dict]:
        imgs, labels = self.load_arrays()
        labels = np.asarray(labels, dtype=np.int64)
        if imgs.ndim != 4 or imgs.dtype != np.uint8 or \
                len(imgs) != len(labels):
            raise ValueError(
                f'{type(self).__name__}.load_arrays must return N x H x W x C '
                f'uint8 images and N labels, got images {imgs.shape} '
                f'{imgs.dtype} and {len(labels)} labels')
        num_classes = len(self.metainfo['classes'])
        if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(
                f'{type(self).__name__}: labels must lie in [0, '
                f'{num_classes}) for the {num_classes} classes of the '
                f'metainfo, found {labels.min()}..{labels.max()}')
        shape = imgs.shape[1:3]
        return [
            dict(img=img, gt_label=int(label), img_shape=shape,
                 ori_shape=shape) for img, label in zip(imgs, labels)
        ]
