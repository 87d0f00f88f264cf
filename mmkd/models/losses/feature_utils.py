# Copyright (c) mmkd contributors. All rights reserved.
"""Building blocks shared by the dense feature losses (PKD, MGD, FGD)."""
from typing import Optional, Tuple

from torch import Tensor


def check_channels(owner: str, channels: Optional[int]) -> int:
    """Validate the ``channels`` argument of a loss with learnable layers
    built for one channel count (MGD, FGD)."""
    if channels is None:
        raise ValueError(
            f'{owner} needs channels=<C>: the number of channels of the '
            'teacher feature it distils (its layers are built for it)')
    if not isinstance(channels, int) or isinstance(channels, bool) or \
            channels < 1:
        raise ValueError(f'{owner}: channels must be a positive int, got '
                         f'{channels!r}')
    return channels


def check_feature_channels(owner: str, channels: int, feat: Tensor) -> None:
    """Raise if a B x C x H x W feature does not have ``channels``
    channels."""
    if feat.shape[1] != channels:
        raise ValueError(
            f'{owner} was built with channels={channels} but got features '
            f'with {feat.shape[1]} channels (shape {tuple(feat.shape)}); set '
            "channels to the teacher's channel count and align the student "
            "with a connector (e.g. type='mmkd.ConvConnector')")


def standardize_channels(feat: Tensor, per_sample: bool = False,
                         eps: float = 1e-6) -> Tensor:
    """Standardise each channel of a B x C x H x W feature to zero mean and
    unit variance, ``(x - mean) / (std + eps)`` (std with Bessel's
    correction, as in the public PKD code).

    Args:
        feat (Tensor): B x C x H x W.
        per_sample (bool): statistics over (H, W) of each sample and
            channel if True, else over (B, H, W) of each channel (batch
            statistics). Defaults to False.
        eps (float): added to the standard deviation. Defaults to 1e-6.
    """
    dims = (2, 3) if per_sample else (0, 2, 3)
    count = 1
    for d in dims:
        count *= feat.shape[d]
    if count < 2:
        over = 'H x W' if per_sample else 'B x H x W'
        raise ValueError(
            f'cannot standardise channels over {over} = {count} value of a '
            f'feature of shape {tuple(feat.shape)}: at least 2 are needed')
    mean = feat.mean(dim=dims, keepdim=True)
    std = feat.std(dim=dims, keepdim=True)
    return (feat - mean) / (std + eps)


def attention_masks(feat: Tensor, temp: float) -> Tuple[Tensor, Tensor]:
    """Spatial and channel attention of a feature map (FGD, Yang et al.
    CVPR 2022, Sec. 3.2).

    ``G_s = mean_c |F|`` (B x H x W) and ``G_c = mean_hw |F|`` (B x C);
    ``A_s = H W softmax(G_s / T)`` over positions and
    ``A_c = C softmax(G_c / T)`` over channels, so each has mean 1.

    Returns:
        tuple[Tensor, Tensor]: ``A_s`` (B x H x W) and ``A_c`` (B x C).
    """
    b, c, h, w = feat.shape
    value = feat.abs()
    spatial = value.mean(dim=1).flatten(1)
    spatial = (h * w) * (spatial / temp).softmax(dim=1)
    channel = c * (value.mean(dim=(2, 3)) / temp).softmax(dim=1)
    return spatial.view(b, h, w), channel
