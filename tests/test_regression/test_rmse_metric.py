# Copyright (c) mmkd contributors. All rights reserved.
import math

import pytest
import torch

from mmkd.evaluation import RMSE


def test_rmse_hand_computed():
    metric = RMSE()
    metric.dataset_meta = dict(y_std=2.5)
    # two batches: errors 1, -2 | 0, 3  -> mean square (1 + 4 + 0 + 9) / 4
    metric.process(
        {}, [dict(pred=torch.tensor([1.0, 0.0]), gt=torch.tensor([0.0, 2.0]))])
    metric.process(
        {}, [dict(pred=torch.tensor([5.0, 3.0]), gt=torch.tensor([5.0, 0.0]))])
    out = metric.evaluate(4)
    assert out['rmse'] == pytest.approx(math.sqrt(14 / 4))
    assert out['rmse_orig'] == pytest.approx(2.5 * math.sqrt(14 / 4))


def test_rmse_without_meta_and_bad_input():
    metric = RMSE()
    metric.process({}, [dict(pred=torch.tensor(2.0), gt=torch.tensor(1.0))])
    assert metric.evaluate(1) == dict(rmse=pytest.approx(1.0))
    with pytest.raises(TypeError, match="dicts with 'pred' and 'gt'"):
        metric.process({}, [torch.tensor([1.0])])
    with pytest.raises(ValueError, match='pred has 2 values but gt has 3'):
        metric.process({}, [dict(pred=torch.zeros(2), gt=torch.zeros(3))])
