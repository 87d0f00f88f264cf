# Copyright (c) mmkd contributors. All rights reserved.
"""The toy configs train through the real Runner on the synthetic sets and
evaluate with the real metrics; resume reproduces an uninterrupted run."""

import pytest
import torch
from dense_utils import (load, seg_size, shrink_det_cfg, shrink_seg_cfg, train,
                         train_whole_and_resumed)


def test_mmcv_ops_import():
    from mmcv.ops import RoIAlign, nms
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.],
                          [20., 20., 30., 30.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    _, keep = nms(boxes, scores, iou_threshold=0.5)
    assert keep.tolist() == [0, 2]
    assert RoIAlign((2, 2)).output_size == (2, 2)


def test_retinanet_toy_trains_and_evaluates(coco_shapes_root, tmp_path):
    cfg = shrink_det_cfg(
        load('configs/toy/retinanet_r18-w32_shapes-coco.py'), coco_shapes_root,
        str(tmp_path))
    runner = train(cfg)
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert 0 < loss < float('inf')
    metrics = runner.val_loop.run()
    # one epoch on 8 images is at chance (0.0 measured on seed 0): no floor
    assert isinstance(metrics['coco/bbox_mAP'], float)
    assert 'coco/bbox_mAP_50' in metrics


def test_pspnet_toy_trains_and_evaluates(cityscapes_shapes_root, tmp_path):
    cfg = seg_size(
        shrink_seg_cfg(
            load('configs/toy/pspnet_r18-w16_shapes-cityscapes.py'),
            cityscapes_shapes_root, str(tmp_path)), (64, 128))
    runner = train(cfg)
    metrics = runner.val_loop.run()
    # floors from a measured run (seed 0, deterministic): mIoU 2.70,
    # aAcc 26.82, with margin
    assert metrics['mIoU'] >= 1.0
    assert metrics['aAcc'] >= 15.0


@pytest.mark.parametrize('workers', [0, 1], ids=['main-process', 'worker'])
def test_resume_at_epoch_boundary_matches_uninterrupted(
        coco_shapes_root, tmp_path, workers):
    """Stop after epoch 1 and resume: the weights after epoch 2 are exactly
    those of an uninterrupted 2-epoch run (same seed, deterministic CPU),
    with random flips on: drawn in the main process (num_workers=0, whose
    random states the checkpoint carries) or in one persistent data-loader
    worker (reseeded per epoch from the seed)."""
    base = shrink_det_cfg(
        load('configs/toy/retinanet_r18-w32_shapes-coco.py'), coco_shapes_root,
        str(tmp_path / 'full'), max_epochs=2)
    assert any(t['type'] == 'RandomFlip'
               for t in base.train_dataloader.dataset.pipeline)
    base.train_dataloader.num_workers = workers
    base.train_dataloader.persistent_workers = workers > 0
    full, runner = train_whole_and_resumed(base, str(tmp_path / 'part'))
    full = full.model.state_dict()
    state = runner.model.state_dict()
    assert state.keys() == full.keys()
    for key in full:
        torch.testing.assert_close(state[key], full[key], rtol=0, atol=0,
                                   msg=key)
