# Copyright (c) mmkd contributors. All rights reserved.
"""Write a PNG grid of AKD's avatars for one image.

    python tools/analysis_tools/visualize_avatars.py CONFIG CHECKPOINT IMAGE
        [--out avatars.png]

CONFIG is a distillation config (its teacher is loaded from the config's
teacher checkpoint), CHECKPOINT a checkpoint of that distillation run (the
student and connectors; use the teacher-only state with `--no-student`).
Per distilled level (e.g. each FPN level) the row shows the teacher feature
(channel mean), three avatars, the uncertainty map (mean squared difference
of the avatars to the teacher, over avatars and channels) and the student
feature after its connector.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..', '..')))

from mmengine.registry import DefaultScope

import mmkd  # noqa: F401
from mmkd.engine import safe_torch_load
from mmkd.engine.hooks import DISTILL_STATE_KEY
from mmkd.registry import MODELS
from mmkd.utils import load_config
from mmkd.visualization import avatar_panels, prepare_image, save_avatar_grid


def visualize(config, checkpoint, image, out_file):
    cfg = load_config(config)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        model = MODELS.build(cfg.model)
    if checkpoint:
        ckpt = safe_torch_load(checkpoint)
        state = dict(ckpt.get('state_dict', ckpt))
        state.update(ckpt.get(DISTILL_STATE_KEY, {}))
        model.load_state_dict(state, strict=False)
    model.eval()
    data = prepare_image(model, cfg, image)
    panels = avatar_panels(model, data['inputs'], data['data_samples'])
    return save_avatar_grid(panels, out_file, title=osp.basename(str(image)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('image')
    parser.add_argument('--out', default='avatars.png')
    args = parser.parse_args()
    print(visualize(args.config, args.checkpoint, args.image, args.out))


if __name__ == '__main__':
    main()
