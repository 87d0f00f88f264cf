# Copyright (c) mmkd contributors. All rights reserved.
"""Load a student checkpoint the way a user without mmkd does: a fresh
Python process that never imports mmkd runs ``torch.load(weights_only=
True)``, mmdet's ``init_detector`` + ``inference_detector`` or mmseg's
``init_model`` + ``inference_model``; its predictions are compared with
those of the same checkpoint loaded through mmkd in this process."""
import glob
import os.path as osp
import subprocess
import sys
from typing import Dict

import torch

# run by a fresh interpreter from a directory outside the checkout, so
# nothing but the installed packages can be imported (mmkd is installed
# too: the check at the end says it was never imported)
LOAD_WITHOUT_MMKD = r'''
import sys
import torch
ckpt_path, config, image, out, task = sys.argv[1:6]
ckpt = torch.load(ckpt_path, map_location='cpu', weights_only=True)
if task == 'det':
    from mmdet.apis import inference_detector, init_detector
    model = init_detector(config, ckpt_path, device='cpu')
    model.bbox_head.test_cfg.score_thr = 0.0  # keep every box
    pred = inference_detector(model, image).pred_instances
    result = dict(bboxes=pred.bboxes, scores=pred.scores, labels=pred.labels)
else:
    from mmseg.apis import inference_model, init_model
    model = init_model(config, ckpt_path, device='cpu')
    pred = inference_model(model, image)
    result = dict(seg_logits=pred.seg_logits.data,
                  pred_sem_seg=pred.pred_sem_seg.data)
result['keys'] = sorted(ckpt)
result['classes'] = list(model.dataset_meta['classes'])
result['mmkd_modules'] = sorted(
    m for m in sys.modules if m == 'mmkd' or m.startswith('mmkd.'))
torch.save(result, out)
'''


def det_image(coco_root: str) -> str:
    return sorted(glob.glob(osp.join(coco_root, 'val', '*')))[0]


def seg_image(cityscapes_root: str) -> str:
    return sorted(
        glob.glob(
            osp.join(cityscapes_root, 'leftImg8bit', 'val', '*', '*.png')))[0]


def load_without_mmkd(ckpt: str, config: str, image: str, task: str,
                      tmp_dir: str) -> Dict[str, object]:
    """What :data:`LOAD_WITHOUT_MMKD` got in a fresh process (it fails the
    test, with the process's output, when the process fails)."""
    script = osp.join(tmp_dir, 'load_without_mmkd.py')
    with open(script, 'w') as f:
        f.write(LOAD_WITHOUT_MMKD)
    out = osp.join(tmp_dir, 'loaded_without_mmkd.pt')
    proc = subprocess.run(
        [sys.executable, script, ckpt, config, image, out, task], cwd=tmp_dir,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=600)
    assert proc.returncode == 0, proc.stdout[-6000:]
    return torch.load(out, weights_only=True)


def predict_with_mmkd(ckpt: str, config: str, image: str,
                      task: str) -> Dict[str, torch.Tensor]:
    """The same predictions in this process, where mmkd is imported and its
    loader reads the checkpoint."""
    import mmkd  # noqa: F401
    if task == 'det':
        from mmdet.apis import inference_detector, init_detector
        model = init_detector(config, ckpt, device='cpu')
        model.bbox_head.test_cfg.score_thr = 0.0
        pred = inference_detector(model, image).pred_instances
        return dict(bboxes=pred.bboxes, scores=pred.scores, labels=pred.labels)
    from mmseg.apis import inference_model, init_model
    model = init_model(config, ckpt, device='cpu')
    pred = inference_model(model, image)
    return dict(seg_logits=pred.seg_logits.data,
                pred_sem_seg=pred.pred_sem_seg.data)


def assert_loads_anywhere(ckpt: str, config: str, image: str, task: str,
                          tmp_dir: str, classes) -> Dict[str, object]:
    """``ckpt`` loads and predicts in a process without mmkd exactly as it
    does through mmkd (same kernels: equal up to float rounding), with the
    data set's class names; returns what that process got."""
    got = load_without_mmkd(ckpt, config, image, task, tmp_dir)
    assert got['mmkd_modules'] == [], got['mmkd_modules']
    assert got['classes'] == list(classes)
    want = predict_with_mmkd(ckpt, config, image, task)
    if task == 'det':
        assert len(want['scores']) > 0
    for key, value in want.items():
        torch.testing.assert_close(got[key], value, msg=key)
    return got
