# Copyright (c) mmkd contributors. All rights reserved.
import pytest

from mmkd.engine.hooks import DistillWeightScheduleHook


def test_epoch_warmup_is_linear_then_flat():
    hook = DistillWeightScheduleHook(warmup_epochs=20)
    assert [hook.weight(e, 0) for e in (0, 9, 19, 50)
            ] == [pytest.approx(1 / 20),
                  pytest.approx(10 / 20), 1.0, 1.0]


def test_iter_warmup_and_stops():
    hook = DistillWeightScheduleHook(warmup_iters=4, stop_iter=10)
    assert [hook.weight(0, i) for i in (0, 3, 6, 10)] == [0.25, 1.0, 1.0, 0.0]
    hook = DistillWeightScheduleHook(stop_epoch=3)
    assert hook.weight(2, 100) == 1.0 and hook.weight(3, 0) == 0.0


@pytest.mark.parametrize('kwargs', [
    dict(warmup_epochs=-1),
    dict(stop_iter=1.5),
    dict(warmup_epochs=2, warmup_iters=2)
])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        DistillWeightScheduleHook(**kwargs)
