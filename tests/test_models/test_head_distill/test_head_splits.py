# Copyright (c) mmkd contributors. All rights reserved.
"""Each head split reads mmdet's real dense heads right: the predictions
it assembles from the recorded modules are the head's own forward outputs
(eval mode), and the head run from the split on its own recorded feature
gives them again."""
import pytest
import torch
from mmengine.registry import DefaultScope

from mmkd.models.head_splits import build_head_split
from mmkd.models.recording.recorder import ModuleOutputRecorder
from mmkd.registry import MODELS

ANCHORS = dict(type='AnchorGenerator', ratios=[1.0], octave_base_scale=4,
               scales_per_octave=1, strides=[8, 16, 32])
HEADS = {
    'retina':
    dict(type='RetinaHead', anchor_generator=dict(ANCHORS,
                                                  ratios=[0.5, 1.0, 2.0])),
    'atss':
    dict(type='ATSSHead', anchor_generator=ANCHORS),
    'gfl':
    dict(type='GFLHead', anchor_generator=ANCHORS, reg_max=8),
    'fcos':
    dict(type='FCOSHead', strides=[8, 16, 32]),
    'fcos-normbbox-centeronreg':
    dict(type='FCOSHead', strides=[8, 16, 32], norm_on_bbox=True,
         centerness_on_reg=True),
}


def _head(kind):
    cfg = dict(HEADS[kind], num_classes=3, in_channels=16, feat_channels=32,
               stacked_convs=3, norm_cfg=dict(type='GN', num_groups=8,
                                              requires_grad=True))
    if kind == 'retina':
        cfg.pop('norm_cfg')  # RetinaHead has no norm by default
    with DefaultScope.overwrite_default_scope('mmdet'):
        head = MODELS.build(cfg)
    head.init_weights()
    with torch.no_grad():  # off the initial values: scores that vary
        for param in head.parameters():
            param.add_(torch.randn_like(param) * 0.05)
    return head.eval()


@pytest.mark.parametrize('kind', sorted(HEADS))
@pytest.mark.parametrize('k', [1, 2, 3])
def test_split_predictions_are_the_heads_own(kind, k):
    torch.manual_seed(0)
    head = _head(kind)
    split = build_head_split(head, k)
    feats = [torch.randn(2, 16, s, s) for s in (16, 8, 4)]
    paths = list(split.split_paths().values()) + split.prediction_paths()
    recorder = ModuleOutputRecorder(head, paths)
    with torch.no_grad():
        rec = recorder.run(head.forward, feats)
        own = head.forward(feats)
    preds = split.predictions(rec)
    held = split.split_paths()
    for level, pred in enumerate(preds):
        want = [own[i][level] for i in range(len(own))]
        got = [pred.cls, pred.reg
               ] + ([pred.ctr] if split.has_centerness else [])
        assert len(got) == len(want)
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w, rtol=0, atol=0)
        with torch.no_grad():
            tail = split.run_from_split(rec[held['cls']][level],
                                        rec[held['reg']][level], level)
        for g, w in zip(tail, pred):
            if w is not None:
                torch.testing.assert_close(g, w, rtol=1e-6, atol=1e-6)
