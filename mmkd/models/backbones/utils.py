# Copyright (c) mmkd contributors. All rights reserved.
"""Helpers shared by the CIFAR model zoo backbones.

The zoo follows the knowledge-distillation literature (CRD, Tian et al.,
ICLR 2020; DKD, Zhao et al., CVPR 2022): each family is one parameterised
class (e.g. :class:`~mmkd.models.backbones.CifarResNet`) and each named
variant of the literature (``resnet32x4``, ``wrn_40_2``...) is registered
in ``mmkd.registry.MODELS`` as a small factory that fills in the variant's
architecture arguments, so ``dict(type='mmkd.resnet32x4')`` and
``dict(type='mmkd.CifarResNet', depth=32, stage_channels=(64, 128, 256),
stem_channels=32)`` build the same network.
"""
from typing import Callable, Dict, Tuple

import torch.nn as nn

from mmkd.registry import MODELS

#: Every registered CIFAR zoo variant: ``name -> (family class, arch args)``.
CIFAR_MODEL_ZOO: Dict[str, Tuple[type, dict]] = {}


def register_variants(cls: type, table: Dict[str, dict]) -> None:
    """Register one factory per named variant of a backbone family.

    Each factory ``name(**kwargs)`` returns ``cls(**table[name], **kwargs)``;
    the variant's architecture arguments cannot be overridden (use the family
    class itself for other architectures).

    Args:
        cls (type): the parameterised backbone class.
        table (dict): variant name -> the architecture keyword arguments.
    """
    for name, arch in table.items():
        factory = _make_factory(name, cls, arch)
        MODELS.register_module(name=name, module=factory)
        CIFAR_MODEL_ZOO[name] = (cls, dict(arch))


def _make_factory(name: str, cls: type, arch: dict) -> Callable:

    def factory(**kwargs):
        fixed = sorted(set(arch) & set(kwargs))
        if fixed:
            raise TypeError(
                f'{name} fixes {fixed} (= {[arch[k] for k in fixed]}); to '
                f'change them build mmkd.{cls.__name__} directly, e.g. '
                f"dict(type='mmkd.{cls.__name__}', " +
                ', '.join(f'{k}={v!r}' for k, v in arch.items()) + ')')
        return cls(**arch, **kwargs)

    factory.__name__ = factory.__qualname__ = name
    factory.__module__ = cls.__module__
    factory.__doc__ = (f'The ``{name}`` CIFAR backbone of the KD literature: '
                       f'``{cls.__name__}(' +
                       ', '.join(f'{k}={v!r}'
                                 for k, v in arch.items()) + ', **kwargs)``.')
    return factory


def kaiming_init(module: nn.Module) -> None:
    """Initialise as the CRD/DKD zoo does: Kaiming-normal (fan-out, ReLU)
    convolutions with zero bias, and BatchNorm with weight 1 and bias 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode='fan_out',
                                    nonlinearity='relu')
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) \
                and m.weight is not None:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def check_positive_int(name: str, value, owner: str) -> int:
    """Raise a clear error unless ``value`` is a positive ``int``."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f'{owner}: {name} must be a positive int, got '
                         f'{value!r}')
    return value


def check_channels(name: str, value, owner: str, length=None) -> tuple:
    """Raise a clear error unless ``value`` is a sequence of positive ints
    (of ``length`` items when given)."""
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f'{owner}: {name} must be a non-empty list/tuple of '
                         f'positive ints, got {value!r}')
    if length is not None and len(value) != length:
        raise ValueError(f'{owner}: {name} must have {length} items, got '
                         f'{len(value)} ({value!r})')
    for v in value:
        check_positive_int(f'every item of {name}', v, owner)
    return tuple(value)
