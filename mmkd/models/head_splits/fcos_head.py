# Copyright (c) mmkd contributors. All rights reserved.
"""Head split of mmdet's FCOSHead (anchor-free: points, distances,
centerness)."""
from typing import List

import torch
from torch import Tensor

from mmkd.registry import HEAD_SPLITS
from .base import (BaseHeadSplit, DenseTargets, LevelPredictions, reduced_mean,
                   unpack_batch)


@HEAD_SPLITS.register_module(name='FCOSHead')
class FCOSHeadSplit(BaseHeadSplit):
    """FCOS's head: per point, the distances to the box sides (``exp`` of
    the scaled output, or its ReLU times the stride with
    ``norm_on_bbox``: in pixels either way, as in eval mode) and a
    centerness on the class or box branch (``centerness_on_reg``).

    Targets: mmdet's points and ``get_targets``; every point counts
    (label weight 1). ``avg_factor`` is the sum of the positive points'
    centerness targets (averaged over processes, at least 1e-6): what
    CrossKD's official FCOS code divides its distillation losses by, in
    place of the number of positives the head's own class loss uses.
    """
    cls_name = 'conv_cls'
    reg_name = 'conv_reg'
    ctr_name = 'conv_centerness'
    scaled = True
    box_kind = 'distances'

    def finish_reg(self, reg: Tensor, level: int) -> Tensor:
        if self.head.norm_on_bbox:
            return reg.clamp(min=0) * self.head.strides[level]
        return reg.exp()

    def centerness_input(self, cls_feat: Tensor, reg_feat: Tensor) -> Tensor:
        return reg_feat if self.head.centerness_on_reg else cls_feat

    def targets(self, preds: List[LevelPredictions],
                data_samples) -> DenseTargets:
        gt, _, _ = unpack_batch(data_samples)
        sizes = [p.cls.shape[-2:] for p in preds]
        batch = preds[0].cls.shape[0]
        device = preds[0].cls.device
        with torch.no_grad():
            points = self.head.prior_generator.grid_priors(
                sizes, dtype=preds[0].reg.dtype, device=device)
            labels, bbox_targets = self.head.get_targets(points, gt)
            flat_labels = torch.cat(labels)
            pos = (flat_labels >= 0) & (flat_labels < self.num_classes)
            centerness = self.head.centerness_target(
                torch.cat(bbox_targets)[pos])
            avg_factor = max(reduced_mean(centerness.sum(), device), 1e-6)
        return DenseTargets(
            [p.repeat(batch, 1) for p in points], labels,
            [torch.ones_like(t, dtype=torch.float)
             for t in labels], avg_factor)
