# Copyright (c) mmkd contributors. All rights reserved.
"""Head splits of mmdet's anchor-based dense heads: RetinaHead, ATSSHead,
GFLHead (and their subclasses, e.g. LDHead)."""
from typing import List

import torch

from mmkd.registry import HEAD_SPLITS
from .base import (BaseHeadSplit, DenseTargets, LevelPredictions, reduced_mean,
                   unpack_batch)


class AnchorHeadSplit(BaseHeadSplit):
    """The anchors and targets of an ``AnchorHead``: ``get_anchors`` and
    the head's own ``get_targets``, as its ``loss_by_feat`` calls them."""
    #: the head's ``get_targets`` returns the anchors per level first and an
    #: avg_factor that its loss averages over the processes (ATSS, GFL)
    targets_per_level: bool = False

    def targets(self, preds: List[LevelPredictions],
                data_samples) -> DenseTargets:
        gt, gt_ignore, metas = unpack_batch(data_samples)
        sizes = [p.cls.shape[-2:] for p in preds]
        device = preds[0].cls.device
        with torch.no_grad():
            anchors, valid = self.head.get_anchors(sizes, metas, device=device)
            out = self.head.get_targets(anchors, valid, gt, metas,
                                        batch_gt_instances_ignore=gt_ignore)
        if self.targets_per_level:
            anchors, labels, label_weights = out[:3]
            avg_factor = reduced_mean(out[-1], device)
        else:
            labels, label_weights = out[:2]
            avg_factor = float(out[-1])
            anchors = self._anchors_per_level(anchors)
        return DenseTargets([a.reshape(-1, a.size(-1)) for a in anchors],
                            [t.reshape(-1) for t in labels],
                            [t.reshape(-1) for t in label_weights], avg_factor)

    @staticmethod
    def _anchors_per_level(anchors: list) -> list:
        """Per-image lists of per-level anchors -> per-level (B, A_l, 4)."""
        from mmdet.models.utils import images_to_levels
        from mmdet.structures.bbox import cat_boxes
        counts = [a.size(0) for a in anchors[0]]
        return images_to_levels([cat_boxes(a) for a in anchors], counts)


@HEAD_SPLITS.register_module(name='RetinaHead')
class RetinaHeadSplit(AnchorHeadSplit):
    """RetinaNet's head: anchor deltas, no scale, no centerness."""
    cls_name = 'retina_cls'
    reg_name = 'retina_reg'


@HEAD_SPLITS.register_module(name='ATSSHead')
class ATSSHeadSplit(AnchorHeadSplit):
    """ATSS's head: scaled anchor deltas and a centerness on the box
    branch."""
    cls_name = 'atss_cls'
    reg_name = 'atss_reg'
    ctr_name = 'atss_centerness'
    scaled = True
    targets_per_level = True


@HEAD_SPLITS.register_module(name='GFLHead')
class GFLHeadSplit(AnchorHeadSplit):
    """GFL's head: joint class-quality scores and, per box side, a general
    distribution of ``reg_max + 1`` logits (compared as distributions)."""
    cls_name = 'gfl_cls'
    reg_name = 'gfl_reg'
    scaled = True
    box_kind = 'distribution'
    targets_per_level = True

    @property
    def reg_width(self) -> int:
        return 4 * (self.head.reg_max + 1)
