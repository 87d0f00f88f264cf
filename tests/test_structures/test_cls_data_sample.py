# Copyright (c) mmkd contributors. All rights reserved.
import numpy as np
import pytest
import torch

from mmkd.structures import ClsDataSample


@pytest.mark.parametrize('value', [
    3,
    np.int64(3),
    np.array([3]),
    torch.tensor(3),
    torch.tensor([3], dtype=torch.int32),
])
def test_labels_from_any_integer_type(value):
    sample = ClsDataSample().set_gt_label(value).set_pred_label(value)
    for label in (sample.gt_label, sample.pred_label):
        assert label.dtype == torch.long and label.shape == (1, )
        assert label.item() == 3


def test_assignment_converts_and_to_dict_keys():
    sample = ClsDataSample(gt_label=2)
    sample.pred_score = [0.25, 0.75]
    assert sample.gt_label.tolist() == [2]
    assert sample.pred_score.dtype == torch.float32
    assert sample.pred_score.shape == (2, )
    score = np.array([0.1, 0.2, 0.7])
    assert sample.set_pred_score(score).pred_score.tolist() == score.tolist()
    assert set(sample.to_dict()) == {'gt_label', 'pred_score'}
    assert 'gt_label' in sample and 'pred_label' not in sample
    assert sample.new(gt_label=5).gt_label.tolist() == [5]


@pytest.mark.parametrize('setter, value, error, match', [
    ('set_gt_label', 1.0, TypeError, 'must be an int'),
    ('set_gt_label', np.array([0.5]), TypeError, 'integer class index'),
    ('set_gt_label', True, TypeError, 'bool'),
    ('set_gt_label', [1, 2], TypeError, 'must be an int'),
    ('set_pred_label', torch.tensor([1, 2]), ValueError, 'exactly one'),
    ('set_pred_score', torch.zeros(2, 3), ValueError, '1-D vector'),
    ('set_pred_score', 0.5, TypeError, 'class scores'),
])
def test_bad_values(setter, value, error, match):
    with pytest.raises(error, match=match):
        getattr(ClsDataSample(), setter)(value)
