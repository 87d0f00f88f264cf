# Copyright (c) mmkd contributors. All rights reserved.
from typing import Optional, Sequence

import torch
import torch.nn as nn
from torch import Tensor

from mmkd.registry import MODELS
from .base import BaseFeatureLoss
from .feature_utils import (attention_masks, check_channels,
                            check_feature_channels)
from .utils import check_non_negative, check_positive


class GlobalContextBlock(nn.Module):
    """The relation module ``R`` of FGD's global loss, a GcBlock (Cao et al.,
    GCNet, 2019)::

        R(F) = F + W_v2(ReLU(LN(W_v1(sum_j softmax_j(W_k F_j) F_j))))

    The last 1x1 conv starts at zero, so ``R`` starts as the identity.

    Args:
        channels (int): channel count C (at least 2; the bottleneck has
            C // 2 channels).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv_mask = nn.Conv2d(channels, 1, kernel_size=1)
        hidden = channels // 2
        self.transform = nn.Sequential(
            nn.Conv2d(channels, hidden, kernel_size=1),
            nn.LayerNorm([hidden, 1, 1]), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, kernel_size=1))
        nn.init.kaiming_normal_(self.conv_mask.weight, mode='fan_in',
                                nonlinearity='relu')
        nn.init.zeros_(self.conv_mask.bias)
        nn.init.zeros_(self.transform[-1].weight)
        nn.init.zeros_(self.transform[-1].bias)

    def forward(self, x: Tensor) -> Tensor:
        b, c = x.shape[:2]
        weights = self.conv_mask(x).flatten(2).softmax(dim=2)  # B x 1 x HW
        context = torch.bmm(x.flatten(2), weights.transpose(1, 2))
        return x + self.transform(context.view(b, c, 1, 1))


def _box_tensor(bboxes) -> Tensor:
    """A box tensor from a Tensor or an mmdet ``BaseBoxes`` (``.tensor``)."""
    return getattr(bboxes, 'tensor', bboxes)


def box_scale_masks(data_samples: Sequence, feat_size: Sequence[int],
                    device: torch.device) -> tuple:
    """FGD's foreground and background scale masks (binary mask times
    scale mask, Sec. 3.2).

    Each ground-truth box, scaled from the batch input frame
    (``metainfo['batch_input_shape']``) to the H x W feature map, covers
    the cells it overlaps (rows ``floor(y1) .. ceil(y2) - 1``, columns
    likewise, at least one cell); its cells get ``1 / (its cell count)``,
    and a cell in several boxes keeps the largest value (the smallest box).
    The background mask is 1 on the cells outside every box, divided by
    their number.

    Returns:
        tuple[Tensor, Tensor]: foreground and background masks, B x H x W.
    """
    h, w = feat_size
    boxes, owners = [], []
    for i, sample in enumerate(data_samples):
        try:
            bboxes = _box_tensor(sample.gt_instances.bboxes)
            in_h, in_w = sample.metainfo['batch_input_shape'][:2]
        except (AttributeError, KeyError) as e:
            raise ValueError(
                'FGDLoss needs detection data samples with '
                "gt_instances.bboxes and metainfo['batch_input_shape'] "
                f'(as the mmdet data preprocessor sets); sample {i} has '
                f'none ({e!r})') from e
        scale = torch.tensor([w / in_w, h / in_h] * 2, device=device)
        boxes.append(
            bboxes.reshape(-1, 4).to(device=device, dtype=torch.float32) *
            scale)
        owners.append(torch.full((boxes[-1].shape[0], ), i, device=device))
    fg = torch.zeros(len(data_samples), h, w, device=device)
    boxes = torch.cat(boxes)
    if boxes.numel():
        start = boxes[:, :2].floor()
        end = torch.maximum(boxes[:, 2:].ceil(), start + 1)
        cols = torch.arange(w, device=device)
        rows = torch.arange(h, device=device)
        in_col = (cols >= start[:, :1]) & (cols < end[:, :1])  # K x W
        in_row = (rows >= start[:, 1:]) & (rows < end[:, 1:])  # K x H
        area = in_row.sum(1) * in_col.sum(1)
        value = 1.0 / area.clamp(min=1).float()
        cells = (in_row[:, :, None] & in_col[:, None, :]).flatten(1)
        owners = torch.cat(owners)[:, None].expand_as(cells)
        fg.view(fg.shape[0],
                -1).scatter_reduce_(0, owners, cells * value[:, None], 'amax')
    bg = (fg == 0).float()
    bg = bg / bg.sum(dim=(1, 2), keepdim=True).clamp(min=1)
    return fg, bg


@MODELS.register_module()
class FGDLoss(BaseFeatureLoss):
    """Focal and global knowledge distillation (Yang et al., "Focal and
    Global Knowledge Distillation for Detectors", CVPR 2022: focal
    distillation, Sec. 3.2, and global distillation, Sec. 3.3).

    Focal part, with the teacher's spatial and channel attention ``A_s``,
    ``A_c`` at temperature ``temp`` and the binary and scale masks
    ``M_fg`` = ``M S`` and ``M_bg`` = ``(1 - M) S`` (see
    :func:`box_scale_masks`)::

        L_fea = alpha * sum M_fg A_s A_c (ft - fs)^2
              + beta  * sum M_bg A_s A_c (ft - fs)^2
        L_at  = gamma * (|A_s^t - A_s^s|_1 + |A_c^t - A_c^s|_1)

    Global part, with the GcBlock relation ``R``::

        L_global = lambda * sum (R(ft) - R(fs))^2

    Every sum is over the batch and divided by the batch size, as the
    public code. By default one ``R`` is applied to both sides (as the
    paper writes ``L_global``); ``separate_global_blocks=True`` gives
    student and teacher each its own, as the public code does.

    Boxes are read from ``data_samples[i].gt_instances.bboxes`` (x1, y1,
    x2, y2 in the batch input frame) and scaled to the feature map by
    ``metainfo['batch_input_shape']`` (the padded batch, the frame the
    feature map covers). The public code scales by the unpadded
    ``img_shape``, which stretches boxes on padded images (by up to the
    padding, 31 px at ``size_divisor=32``); mmkd keeps the geometrically
    right scaling. The public code's inclusive box end (one more row and
    column) is not reproduced. The student must already
    have the teacher's channel count (give the entry a connector if not).
    ``GlobalContextBlock`` parameters are learnable (trained with the
    student, dropped after distillation).

    Defaults follow METHODS.md (RetinaNet/GFL). The published recipes differ
    per detector family (the authors' configs; all on ``neck`` outputs,
    with gradient clipping at max norm 35):

    ==================  ====  =======  ========  ========  =========  ======
    family              temp  alpha    beta      gamma     lambda     levels
    ==================  ====  =======  ========  ========  =========  ======
    RetinaNet, GFL      0.5   1e-3     5e-4      5e-4      5e-6       0-4
    Faster/Mask R-CNN   0.5   5e-5     2.5e-5    5e-5      5e-7       0-3
    FCOS                0.8   1.6e-3   8e-4      8e-4      8e-6       0-4
    RepPoints           0.5   1.6e-3   8e-4      8e-4      8e-6       0-4
    ==================  ====  =======  ========  ========  =========  ======

    Args:
        channels (int): channel count C of the teacher feature, at least 2.
            Required.
        temp (float): attention temperature. Defaults to 0.5.
        alpha_fgd (float): foreground feature weight. Defaults to 1e-3.
        beta_fgd (float): background feature weight. Defaults to 5e-4.
        gamma_fgd (float): attention loss weight. Defaults to 5e-4.
        lambda_fgd (float): global loss weight. Defaults to 5e-6.
        separate_global_blocks (bool): one GcBlock per side (public code)
            instead of a shared one (paper). Defaults to False.
        loss_weight (float): multiplies the loss. Defaults to 1.0.
    """

    def __init__(self, channels: Optional[int] = None, temp: float = 0.5,
                 alpha_fgd: float = 1e-3, beta_fgd: float = 5e-4,
                 gamma_fgd: float = 5e-4, lambda_fgd: float = 5e-6,
                 separate_global_blocks: bool = False,
                 loss_weight: float = 1.0) -> None:
        super().__init__(loss_weight=loss_weight)
        self.channels = check_channels('FGDLoss', channels)
        if channels < 2:
            raise ValueError('FGDLoss: channels must be at least 2 (the '
                             f'GcBlock halves it), got {channels}')
        self.temp = check_positive('FGDLoss', 'temp', temp)
        self.alpha_fgd = check_non_negative('FGDLoss', 'alpha_fgd', alpha_fgd)
        self.beta_fgd = check_non_negative('FGDLoss', 'beta_fgd', beta_fgd)
        self.gamma_fgd = check_non_negative('FGDLoss', 'gamma_fgd', gamma_fgd)
        self.lambda_fgd = check_non_negative('FGDLoss', 'lambda_fgd',
                                             lambda_fgd)
        self.global_blocks = nn.ModuleList(
            GlobalContextBlock(channels)
            for _ in range(2 if separate_global_blocks else 1))

    def compute(self, student_feat: Tensor, teacher_feat: Tensor,
                data_samples: Optional[Sequence] = None) -> Tensor:
        check_feature_channels('FGDLoss', self.channels, student_feat)
        b = student_feat.shape[0]
        if data_samples is None or len(data_samples) != b:
            got = 'none' if data_samples is None else len(data_samples)
            raise ValueError(
                'FGDLoss needs the ground-truth boxes: pass the batch of '
                f'detection data samples ({b} expected, got {got}) as '
                'data_samples')
        fg, bg = box_scale_masks(data_samples, student_feat.shape[2:],
                                 student_feat.device)
        fg, bg = fg.to(student_feat.dtype), bg.to(student_feat.dtype)
        spatial_t, channel_t = attention_masks(teacher_feat, self.temp)
        spatial_s, channel_s = attention_masks(student_feat, self.temp)

        weighted_sq = (student_feat - teacher_feat).pow(2) * \
            channel_t[:, :, None, None] * spatial_t[:, None]
        fg_loss = (weighted_sq * fg[:, None]).sum()
        bg_loss = (weighted_sq * bg[:, None]).sum()
        at_loss = (spatial_s - spatial_t).abs().sum() + \
            (channel_s - channel_t).abs().sum()
        relation_s = self.global_blocks[0](student_feat)
        relation_t = self.global_blocks[-1](teacher_feat)
        global_loss = (relation_s - relation_t).pow(2).sum()
        return (self.alpha_fgd * fg_loss + self.beta_fgd * bg_loss +
                self.gamma_fgd * at_loss + self.lambda_fgd * global_loss) / b
