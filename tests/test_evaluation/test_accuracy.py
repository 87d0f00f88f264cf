# Copyright (c) mmkd contributors. All rights reserved.
import pytest
import torch
from mmengine.evaluator import Evaluator

from mmkd.evaluation import Accuracy
from mmkd.registry import METRICS
from mmkd.structures import ClsDataSample

# 4 samples, 6 classes; rank of the true class: 1, 2, 6, 5
SCORES = [
    [0.10, 0.50, 0.20, 0.05, 0.04, 0.11],  # label 1: top-1
    [0.30, 0.10, 0.25, 0.20, 0.09, 0.06],  # label 2: 2nd
    [0.02, 0.08, 0.15, 0.20, 0.25, 0.30],  # label 0: last
    [0.01, 0.04, 0.35, 0.30, 0.20, 0.10],  # label 5: 5th
]
LABELS = [1, 2, 0, 5]


def samples():
    return [
        ClsDataSample().set_gt_label(y).set_pred_score(torch.tensor(s))
        for s, y in zip(SCORES, LABELS)
    ]


def test_hand_computed_through_evaluator():
    evaluator = Evaluator(dict(type='mmkd.Accuracy', topk=(1, 2, 5)))
    batch = samples()
    # the Evaluator turns data samples into dicts, in two batches
    evaluator.process(data_samples=batch[:3])
    evaluator.process(data_samples=batch[3:])
    result = evaluator.evaluate(4)
    assert result == pytest.approx({
        'accuracy/top1': 25.0,
        'accuracy/top2': 50.0,
        'accuracy/top5': 75.0
    })


def test_matches_naive_loop():
    gen = torch.Generator().manual_seed(0)
    scores = torch.rand(50, 10, generator=gen)
    labels = torch.randint(0, 10, (50, ), generator=gen)
    metric = METRICS.build(dict(type='mmkd.Accuracy', topk=3))
    metric.process(None, [
        dict(pred_score=s, gt_label=torch.tensor([y]))
        for s, y in zip(scores, labels)
    ])
    result = metric.compute_metrics(metric.results)
    hits = 0
    for s, y in zip(scores.tolist(), labels.tolist()):
        higher = sum(1 for v in s if v > s[y])  # no ties in random floats
        hits += higher < 3
    assert result == {'top3': pytest.approx(100.0 * hits / 50)}


def test_topk_larger_than_classes():
    metric = Accuracy(topk=(1, 7))
    with pytest.raises(ValueError, match='6 that pred_score has'):
        metric.process(None, [s.to_dict() for s in samples()])


@pytest.mark.parametrize('topk', [0, (), (1, -5), (True, ), 1.0])
def test_bad_topk(topk):
    with pytest.raises(ValueError, match='topk must be a positive int'):
        Accuracy(topk=topk)


def test_missing_pred_score():
    with pytest.raises(KeyError, match="needs 'pred_score'"):
        Accuracy().process(None, [dict(gt_label=torch.tensor([1]))])
