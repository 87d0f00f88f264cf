# Copyright (c) mmkd contributors. All rights reserved.
"""Image classifier: backbone, optional neck, head."""
from typing import List, Optional, Sequence, Union

import torch.nn as nn
from mmengine.model import BaseModel
from torch import Tensor

from mmkd.registry import MODELS
from mmkd.structures import ClsDataSample
from ..necks import GlobalAveragePooling


def _build(cfg: Union[dict, nn.Module]) -> nn.Module:
    return cfg if isinstance(cfg, nn.Module) else MODELS.build(cfg)


@MODELS.register_module()
class ImageClassifier(BaseModel):
    """Single-label image classifier ``head(neck(backbone(x)))``.

    A backbone returning a tuple of stages (e.g. ``type='mmdet.ResNet'``)
    contributes its last stage. Module names, for distillation hooks:
    ``backbone``, ``neck``, ``head``, ``head.pre_logits`` (B x D
    penultimate feature) and ``head.fc`` (B x C logits) with a
    :class:`~mmkd.models.heads.LinearClsHead`.

    Modes of :meth:`forward`: ``'tensor'`` returns the logits, ``'loss'``
    ``dict(loss_cls=...)``, ``'predict'`` the data samples with
    ``pred_score`` (softmax) and ``pred_label``.

    Args:
        backbone (dict): backbone config (or module).
        head (dict): head config (or module), with ``loss(feats,
            data_samples)`` and ``predict(feats, data_samples)``.
        neck (dict, optional): neck config, e.g.
            ``dict(type='mmkd.GlobalAveragePooling')``. Defaults to None.
        data_preprocessor (dict, optional): defaults to
            ``dict(type='ImgDataPreprocessor')`` (no normalisation).
        init_cfg (dict, optional): mmengine initialisation config.
    """

    def __init__(self, backbone: dict, head: dict, neck: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='ImgDataPreprocessor')
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.backbone = _build(backbone)
        self.neck = None if neck is None else _build(neck)
        self.head = _build(head)
        self._check_widths()

    def _check_widths(self) -> None:
        """Fail at build time when the backbone's ``out_channels`` cannot
        feed the head's ``in_channels`` through a channel-keeping neck."""
        out = getattr(self.backbone, 'out_channels', None)
        expected = getattr(self.head, 'in_channels', None)
        keeps_channels = self.neck is None or isinstance(
            self.neck, GlobalAveragePooling)
        if isinstance(out, int) and isinstance(expected, int) \
                and keeps_channels and out != expected:
            raise ValueError(
                f'the backbone {type(self.backbone).__name__} outputs {out} '
                f'channels but the head has in_channels={expected}; set '
                f'head in_channels={out}')

    def extract_feat(self, inputs: Tensor):
        """The neck's output (or the backbone's last stage without neck)."""
        x = self.backbone(inputs)
        if isinstance(x, (tuple, list)):
            x = x[-1]
        return x if self.neck is None else self.neck(x)

    def forward(
            self, inputs: Tensor,
            data_samples: Optional[Sequence[ClsDataSample]] = None,
            mode: str = 'tensor') -> Union[Tensor, dict, List[ClsDataSample]]:
        if mode == 'tensor':
            return self.head(self.extract_feat(inputs))
        if mode == 'loss':
            return self.head.loss(self.extract_feat(inputs), data_samples)
        if mode == 'predict':
            return self.head.predict(self.extract_feat(inputs), data_samples)
        raise ValueError(f"ImageClassifier mode must be 'tensor', 'loss' or "
                         f"'predict', got {mode!r}")
