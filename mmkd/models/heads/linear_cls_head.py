# Copyright (c) mmkd contributors. All rights reserved.
"""Linear classification head."""
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from mmkd.registry import MODELS
from mmkd.structures import ClsDataSample

Feats = Union[Tensor, Tuple[Tensor, ...]]


@MODELS.register_module()
class LinearClsHead(BaseModule):
    """A fully connected layer from B x ``in_channels`` features to
    B x ``num_classes`` logits, trained with a classification loss.

    Module names (stable, for distillation hooks):

    * ``pre_logits``: an identity whose output is the penultimate feature,
      B x ``in_channels`` (the input of ``fc``);
    * ``fc``: the linear layer; its output is the logits, B x
      ``num_classes``;
    * ``loss_module``: the classification loss.

    Args:
        num_classes (int): number of classes.
        in_channels (int): width of the input feature.
        loss (dict): config of the loss, called as ``loss(logits, labels)``.
            Defaults to ``dict(type='mmkd.CrossEntropyLoss')``.
        init_cfg (dict, optional): mmengine initialisation config.
    """

    def __init__(self, num_classes: int, in_channels: int,
                 loss: dict = dict(type='mmkd.CrossEntropyLoss'),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        for name, value in (('num_classes', num_classes), ('in_channels',
                                                           in_channels)):
            if isinstance(value, bool) or not isinstance(value, int) \
                    or value <= 0:
                raise ValueError(f'LinearClsHead: {name} must be a positive '
                                 f'int, got {value!r}')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.pre_logits = nn.Identity()
        self.fc = nn.Linear(in_channels, num_classes)
        self.loss_module = loss if isinstance(loss, nn.Module) \
            else MODELS.build(loss)

    def forward(self, feats: Feats) -> Tensor:
        """Logits (B x ``num_classes``) of B x ``in_channels`` features; of a
        tuple of features, the last is used."""
        x = feats[-1] if isinstance(feats, (tuple, list)) else feats
        if not isinstance(x, Tensor) or x.dim() != 2 \
                or x.shape[1] != self.in_channels:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x)
            hint = ("; pool feature maps with a neck, e.g. neck=dict(type="
                    "'mmkd.GlobalAveragePooling')"
                    if isinstance(x, Tensor) and x.dim() == 4 else '')
            raise ValueError(
                f'LinearClsHead expects B x {self.in_channels} features '
                f'(in_channels={self.in_channels}), got {shape}{hint}')
        return self.fc(self.pre_logits(x))

    def loss(self, feats: Feats,
             data_samples: Sequence[ClsDataSample]) -> dict:
        """``dict(loss_cls=...)`` of the logits against the samples'
        ``gt_label``."""
        logits = self(feats)
        labels = gt_labels(data_samples).to(logits.device)
        return dict(loss_cls=self.loss_module(logits, labels))

    def predict(
        self, feats: Feats,
        data_samples: Optional[Sequence[Optional[ClsDataSample]]] = None
    ) -> List[ClsDataSample]:
        """Fill (or create) one sample per image with ``pred_score`` (the
        softmax of the logits) and ``pred_label`` (their argmax)."""
        scores = torch.softmax(self(feats).detach(), dim=1)
        labels = scores.argmax(dim=1)
        if data_samples is None:
            data_samples = [None] * len(scores)
        if len(data_samples) != len(scores):
            raise ValueError(f'got {len(data_samples)} data samples for a '
                             f'batch of {len(scores)} images')
        results = []
        for sample, score, label in zip(data_samples, scores, labels):
            sample = ClsDataSample() if sample is None else sample
            results.append(sample.set_pred_score(score).set_pred_label(label))
        return results


def gt_labels(data_samples: Sequence[ClsDataSample]) -> Tensor:
    """The B ground-truth class indices of a batch of samples."""
    if not data_samples:
        raise ValueError('training needs data_samples with gt_label; got '
                         f'{data_samples!r}')
    missing = [i for i, ds in enumerate(data_samples) if 'gt_label' not in ds]
    if missing:
        raise ValueError(f'data samples {missing} have no gt_label; set it '
                         'with ClsDataSample.set_gt_label')
    return torch.cat([ds.gt_label.view(-1) for ds in data_samples])
