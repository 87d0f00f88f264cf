# Copyright (c) mmkd contributors. All rights reserved.
"""The logit losses' label range check: a clear error for labels outside
[0, C - 1], on the first call with the range found and later from the
device-side check, and on the steady path no conversion of a tensor to a
Python value (on a GPU each one waits for the device: a host sync per
call). The conversions are counted by a tensor subclass whose
``__torch_function__`` sees every Tensor method and torch function called
on the labels and on what is computed from them."""
import pytest
import torch

from mmkd.models.losses import DKDLoss, KDLoss, LDRLDLoss, RLDLoss
from mmkd.registry import MODELS

ALL_LOSSES = [KDLoss, DKDLoss, RLDLoss, LDRLDLoss]
# Tensor -> Python value: each one a host sync for a tensor on a GPU
TO_HOST = {'__bool__', 'item', '__int__', '__float__', '__index__', 'tolist'}


class CountingLabels(torch.Tensor):
    """Labels that count the host conversions of themselves and of every
    tensor computed from them (results of torch functions on them are
    CountingLabels too)."""
    conversions = []

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        name = getattr(func, '__name__', '')
        if name in TO_HOST:
            cls.conversions.append(name)
        return super().__torch_function__(func, types, args, kwargs or {})


def _build(cls):
    kwargs = dict(topk=3) if cls is LDRLDLoss else {}
    return MODELS.build(dict(type=f'mmkd.{cls.__name__}', **kwargs))


def _logits(classes=6):
    gen = torch.Generator().manual_seed(0)
    return (torch.randn(4, classes,
                        generator=gen), torch.randn(4, classes, generator=gen))


@pytest.mark.parametrize('cls', ALL_LOSSES)
def test_no_host_conversion_of_the_labels_after_the_first_call(cls):
    loss = _build(cls)
    zs, zt = _logits()
    labels = torch.tensor([0, 5, 2, 3]).as_subclass(CountingLabels)
    CountingLabels.conversions = []
    first = loss(zs, zt, labels)
    assert CountingLabels.conversions, 'the first call checks on the host'
    CountingLabels.conversions = []
    for _ in range(3):
        steady = loss(zs, zt, labels)
    assert CountingLabels.conversions == []
    torch.testing.assert_close(
        steady.as_subclass(torch.Tensor), first.as_subclass(torch.Tensor))


@pytest.mark.parametrize('cls', ALL_LOSSES)
@pytest.mark.parametrize('bad', [[0, 1, 6, 2], [0, -1, 2, 2]])
def test_out_of_range_labels_are_named_on_first_and_later_calls(cls, bad):
    loss = _build(cls)
    zs, zt = _logits()
    with pytest.raises(
            ValueError, match=r'labels must lie in \[0, 5\] for 6 classes, '
            r'got min -?\d and max \d'):
        loss(zs, zt, torch.tensor(bad))
    loss(zs, zt, torch.tensor([0, 5, 2, 3]))  # checked: the steady path
    # the device-side check: on the CPU it raises at once, with the text
    with pytest.raises(RuntimeError,
                       match=r'labels must lie in \[0, 5\] for 6 classes'):
        loss(zs, zt, torch.tensor(bad))


def test_the_classifiers_cross_entropy_checks_the_same_way():
    """mmkd's CrossEntropyLoss (the classification heads' loss) shares the
    check: the range on the host once, then on the device only."""
    from mmkd.models.losses import CrossEntropyLoss
    loss = CrossEntropyLoss()
    zs, _ = _logits()
    with pytest.raises(ValueError, match=r'for 6 classes, got min 0 and '
                       r'max 6'):
        loss(zs, torch.tensor([0, 1, 6, 2]))
    labels = torch.tensor([0, 5, 2, 3]).as_subclass(CountingLabels)
    loss(zs, labels)
    CountingLabels.conversions = []
    for _ in range(3):
        loss(zs, labels)
    assert CountingLabels.conversions == []
    with pytest.raises(RuntimeError, match=r'for 6 classes'):
        loss(zs, torch.tensor([0, -1, 2, 2]))
