# Copyright (c) mmkd contributors. All rights reserved.
"""mmkd's registries are children of mmengine's under scope `mmkd`."""
from mmengine.registry import DefaultScope

from mmkd import registry


def test_scope_and_parents():
    for name in ('MODELS', 'HOOKS', 'DATASETS', 'TRANSFORMS', 'METRICS',
                 'LOOPS'):
        reg = getattr(registry, name)
        assert reg.scope == 'mmkd'
        assert reg.parent is not None and reg.parent.scope == 'mmengine'


def test_mmkd_types_build_from_another_default_scope():
    """A config in mmdet's scope says type='mmkd.Something'."""
    from mmdet.registry import HOOKS as MMDET_HOOKS
    from mmdet.registry import MODELS as MMDET_MODELS
    with DefaultScope.overwrite_default_scope('mmdet'):
        loss = MMDET_MODELS.build(dict(type='mmkd.CWDLoss', tau=2.0))
        hook = MMDET_HOOKS.build(
            dict(type='mmkd.DistillWeightScheduleHook', warmup_iters=5))
    assert type(loss).__name__ == 'CWDLoss' and loss.tau == 2.0
    assert hook.weight(0, 4) == 1.0 and hook.weight(0, 0) == 0.2


def test_lazy_locations():
    assert registry.MODELS._locations == ['mmkd.models']
    assert registry.HOOKS.get('DistillCheckpointHook') is not None
    assert registry.METRICS.get('Accuracy') is not None
