# Copyright (c) mmkd contributors. All rights reserved.
"""Picture of AKD's avatars for one image: per distilled level, the teacher
feature, three avatars, the uncertainty map and the student feature."""
import os.path as osp
from typing import List, Optional

import numpy as np
import torch
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import DefaultScope

from mmkd.models.losses.avatar_loss import AvatarLoss


def _test_pipeline(cfg) -> list:
    loader = cfg.get('test_dataloader') or cfg.val_dataloader
    pipeline = loader.dataset.pipeline
    # one bare image: no annotations to load
    return [t for t in pipeline if t['type'] != 'LoadAnnotations']


def prepare_image(model, cfg, img_path: str):
    """Run the config's test pipeline and the student's preprocessor."""
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        data = Compose(_test_pipeline(cfg))(dict(img_path=img_path, img_id=0))
    return model.data_preprocessor(pseudo_collate([data]), False)


def _avatar_loss(entry, level: int) -> AvatarLoss:
    loss = entry.loss_for(level)
    if isinstance(loss, AvatarLoss):
        return loss
    # not an AKD entry: show what AKD's default avatars would be
    return AvatarLoss(base=dict(type='mmkd.FeatureMSELoss'))


def _channel_mean(feat: torch.Tensor) -> np.ndarray:
    return feat.float().mean(dim=0).cpu().numpy()


@torch.no_grad()
def avatar_panels(model, inputs, data_samples, num_shown: int = 3) -> List:
    """Per (entry, level): a dict of 2-D maps for the first image."""
    teacher_out = model.teacher_outputs(inputs, data_samples)
    student_out = model.student_recorder.run(model.student, inputs,
                                             data_samples, mode='tensor')
    panels = []
    for entry in model.distill_entries:
        if entry.is_head:
            continue  # no avatars on a head entry
        s_levels = entry.student_levels(student_out)
        t_levels = entry.teacher_levels(teacher_out)
        for i, (s_feat, t_feat) in enumerate(zip(s_levels, t_levels)):
            loss = _avatar_loss(entry, i)
            s_feat, t_feat = entry.align(s_feat, t_feat, i)
            avatars = loss.make_avatars(t_feat)  # N x B x C x H x W
            spread = ((avatars - t_feat.unsqueeze(0))**2).mean(dim=(0, 2))
            maps = {'teacher': _channel_mean(t_feat[0])}
            for k in range(min(num_shown, avatars.shape[0])):
                maps[f'avatar {k + 1}'] = _channel_mean(avatars[k, 0])
            maps['uncertainty'] = spread[0].cpu().numpy()
            maps['student'] = _channel_mean(s_feat[0])
            panels.append((f'{entry.name} level {i}', maps))
    return panels


def save_avatar_grid(panels, out_file: str,
                     title: Optional[str] = None) -> str:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    cols = len(panels[0][1])
    fig, axes = plt.subplots(
        len(panels), cols, figsize=(2.2 * cols, 2.2 * len(panels)),
        squeeze=False)
    for row, (name, maps) in enumerate(panels):
        for col, (label, img) in enumerate(maps.items()):
            ax = axes[row][col]
            ax.imshow(img,
                      cmap='magma' if label == 'uncertainty' else 'viridis')
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(label, fontsize=9)
            if col == 0:
                ax.set_ylabel(name, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    dirname = osp.dirname(osp.abspath(out_file))
    import os
    os.makedirs(dirname, exist_ok=True)
    fig.savefig(out_file, dpi=100)
    plt.close(fig)
    return out_file
