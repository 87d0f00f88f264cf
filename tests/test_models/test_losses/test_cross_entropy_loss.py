# Copyright (c) mmkd contributors. All rights reserved.
"""The classification cross-entropy against a per-sample computation."""
import math

import pytest
import torch

from mmkd.models.losses import CrossEntropyLoss
from mmkd.registry import MODELS


def _reference(logits, labels, smoothing=0.0):
    total = 0.0
    for z, y in zip(logits.tolist(), labels.tolist()):
        log_norm = math.log(sum(math.exp(v) for v in z))
        log_p = [v - log_norm for v in z]
        target = [smoothing / len(z)] * len(z)
        target[y] += 1.0 - smoothing
        total -= sum(t * lp for t, lp in zip(target, log_p))
    return total / len(labels)


@pytest.mark.parametrize('smoothing', [0.0, 0.1])
def test_value(smoothing):
    gen = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(5, 4, generator=gen, dtype=torch.float64)
    labels = torch.tensor([0, 3, 1, 1, 2])
    loss = MODELS.build(
        dict(type='mmkd.CrossEntropyLoss', loss_weight=2.0,
             label_smoothing=smoothing))
    assert loss(logits, labels).item() == pytest.approx(
        2.0 * _reference(logits, labels, smoothing), rel=1e-10)


def test_errors():
    with pytest.raises(ValueError, match='label_smoothing'):
        CrossEntropyLoss(label_smoothing=1.0)
    with pytest.raises(TypeError, match='loss_weight'):
        CrossEntropyLoss(loss_weight='1')
    loss = CrossEntropyLoss()
    with pytest.raises(ValueError, match='B x C class scores'):
        loss(torch.randn(2, 3, 4), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match='integer class indices'):
        loss(torch.randn(2, 3), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r'lie in \[0, 2\]'):
        loss(torch.randn(2, 3), torch.tensor([0, 3]))
