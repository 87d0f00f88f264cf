# Copyright (c) mmkd contributors. All rights reserved.
"""`make demo`: a teacher, then one student trained alone, with a base
feature distiller and with AKD over that base; a table, plots and the
avatar picture. Finished steps are skipped when it is run again."""
import copy
import glob
import json
import os
import os.path as osp
import time
from typing import Dict, List, Optional

from mmengine.config import Config

from mmkd.utils.config import load_config
from .runner_cfg import build_runner, prepare_train_cfg

REPO_ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))

DEMO_PRESETS = {
    'det': dict(
        teacher='configs/toy/retinanet_r18-w64_shapes-coco.py',
        runs=[
            ('student alone', 'configs/toy/retinanet_r18-w32_shapes-coco.py'),
            ('PKD (base)',
             'configs/pkd/pkd_fpn_retinanet_r18-w64_r18-w32_toy-shapes.py'),
            ('AKD over PKD', 'configs/akd/'
             'akd-pkd_fpn_retinanet_r18-w64_r18-w32_toy-shapes.py'),
        ],
        metrics=[('AP', 'coco/bbox_mAP'), ('AP50', 'coco/bbox_mAP_50'),
                 ('AP75', 'coco/bbox_mAP_75')],
        distill_key='distill.neck.loss',
        full=dict(num_train=256, num_val=64, img=96, batch=16,
                  teacher_epochs=60, student_epochs=30, val_every=5,
                  log_every=10),
        quick=dict(num_train=8, num_val=4, img=64, batch=4,
                   teacher_epochs=1, student_epochs=1, val_every=1,
                   log_every=1)),
    'seg': dict(
        teacher='configs/toy/pspnet_r18-w32_shapes-cityscapes.py',
        runs=[
            ('student alone',
             'configs/toy/pspnet_r18-w16_shapes-cityscapes.py'),
            ('CWD (base)',
             'configs/cwd/cwd_logits_pspnet_r18-w32_r18-w16_toy-shapes.py'),
            ('AKD over CWD', 'configs/akd/'
             'akd-cwd_logits_pspnet_r18-w32_r18-w16_toy-shapes.py'),
        ],
        metrics=[('mIoU', 'mIoU'), ('mAcc', 'mAcc'), ('aAcc', 'aAcc')],
        distill_key='distill.decode_head.conv_seg.loss',
        full=dict(num_train=64, num_val=16, img=(128, 256), batch=4,
                  teacher_iters=600, student_iters=300, val_every=100,
                  log_every=10),
        quick=dict(num_train=4, num_val=2, img=(64, 128), batch=2,
                   teacher_iters=2, student_iters=2, val_every=2,
                   log_every=1)),
}


def _make_data(task: str, data_root: str, size: dict, seed: int) -> None:
    from mmkd.datasets.synthetic import (make_cityscapes_shapes,
                                         make_coco_shapes)
    if task == 'det':
        make_coco_shapes(data_root, num_train=size['num_train'],
                         num_val=size['num_val'],
                         img_size=(size['img'], size['img']), seed=seed)
    else:
        make_cityscapes_shapes(data_root, num_train=size['num_train'],
                               num_val=size['num_val'],
                               img_size=tuple(size['img']), seed=seed)


def _student_cfg(cfg: Config) -> Config:
    return cfg.model.get('student', cfg.model)


def _configure(task: str, path: str, data_root: str, work_dir: str,
               size: dict, seed: int, teacher: bool,
               teacher_ckpt: Optional[str]) -> Config:
    """The toy config at the demo's size, data root, seed and schedule."""
    cfg = load_config(osp.join(REPO_ROOT, path))
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[name].batch_size = size['batch']
        cfg[name].dataset.data_root = data_root
    if task == 'det':
        scale = (size['img'], size['img'])
        for name in ('train_dataloader', 'val_dataloader'):
            for t in cfg[name].dataset.pipeline:
                if t['type'] == 'Resize':
                    t['scale'] = scale
        for name in ('val_evaluator', 'test_evaluator'):
            cfg[name].ann_file = osp.join(data_root,
                                          'annotations/instances_val.json')
        epochs = size['teacher_epochs' if teacher else 'student_epochs']
        cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=epochs,
                             val_interval=size['val_every'])
        warmup = min(50, max(1, epochs * size['num_train'] //
                             size['batch'] // 4))
        cfg.param_scheduler = [
            dict(type='LinearLR', start_factor=0.01, by_epoch=False,
                 begin=0, end=warmup),
            dict(type='MultiStepLR', by_epoch=True, begin=0, end=epochs,
                 milestones=[max(1, int(epochs * 0.8))], gamma=0.1)
        ]
        cfg.default_hooks.checkpoint = dict(
            type='CheckpointHook', interval=epochs, max_keep_ckpts=1)
        _student_cfg(cfg).test_cfg.score_thr = 0.01
    else:
        _student_cfg(cfg).data_preprocessor.size = tuple(size['img'])
        iters = size['teacher_iters' if teacher else 'student_iters']
        cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters,
                             val_interval=min(size['val_every'], iters))
        cfg.param_scheduler = [
            dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0,
                 end=iters, by_epoch=False)
        ]
        cfg.default_hooks.checkpoint = dict(
            type='CheckpointHook', by_epoch=False, interval=iters,
            max_keep_ckpts=1)
    cfg.default_hooks.logger = dict(
        type='LoggerHook', interval=size['log_every'],
        log_metric_by_epoch=task == 'det')
    if teacher_ckpt is not None:
        cfg.model.teacher.checkpoint = teacher_ckpt
    cfg.randomness = dict(seed=seed)
    cfg.work_dir = work_dir
    # one visualizer (and scalars.json) per run: mmengine reuses an instance
    # of the same name within a process
    cfg.visualizer.name = f'demo_{osp.basename(work_dir)}_{time.time_ns()}'
    return cfg


def _history(work_dir: str, keys: List[str]) -> Dict[str, list]:
    """(step, value) series of the given scalars from mmengine's
    vis_data/scalars.json (the newest run in ``work_dir``)."""
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                      'scalars.json')))
    series = {k: [] for k in keys}
    if not files:
        return series
    with open(files[-1]) as f:
        for line in f:
            row = json.loads(line)
            for k in keys:
                if k in row:
                    series[k].append((row.get('step', 0), row[k]))
    # a step logged twice (the final evaluation) keeps its last value
    return {k: sorted(dict(v).items()) for k, v in series.items()}


def _train_step(name: str, cfg: Config, keys: List[str],
                metric_key: str) -> dict:
    """Train (unless a finished result is there) and evaluate; returns the
    result record."""
    result_file = osp.join(cfg.work_dir, 'demo_result.json')
    if osp.isfile(result_file):
        with open(result_file) as f:
            result = json.load(f)
        print(f'[demo] {name}: finished before, reusing {cfg.work_dir}')
        return result
    print(f'[demo] training {name} -> {cfg.work_dir}')
    start = time.time()
    runner = build_runner(prepare_train_cfg(cfg, work_dir=cfg.work_dir))
    runner.train()
    wall = time.time() - start
    metrics = {k: float(v) for k, v in runner.val_loop.run().items()}
    ckpts = sorted(glob.glob(osp.join(cfg.work_dir, '*.pth')),
                   key=osp.getmtime)
    result = dict(name=name, metrics=metrics, wall_time=wall,
                  checkpoint=ckpts[-1],
                  history=_history(cfg.work_dir, keys + [metric_key]))
    with open(result_file, 'w') as f:
        json.dump(result, f)
    return result


def _plot(task: str, preset: dict, results: List[dict], out: str) -> str:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    metric_name, metric_key = preset['metrics'][0]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for res in results:
        pts = res['history'].get(metric_key, [])
        if pts:
            ax1.plot(*zip(*pts), marker='o', label=res['name'])
        loss = res['history'].get(preset['distill_key'], [])
        if loss:
            ax2.plot(*zip(*loss), label=res['name'])
    ax1.set_title(f'student {metric_name} during training')
    ax1.set_xlabel('iteration' if task == 'seg' else 'epoch')
    ax1.legend()
    ax2.set_title('distillation loss')
    ax2.set_xlabel('iteration')
    ax2.set_yscale('log')
    ax2.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def _table(preset: dict, rows: List[dict]) -> str:
    names = [n for n, _ in preset['metrics']]
    lines = ['| run | ' + ' | '.join(names) + ' | wall time |',
             '|---|' + '---:|' * (len(names) + 1)]
    for res in rows:
        vals = [res['metrics'].get(k, float('nan'))
                for _, k in preset['metrics']]
        lines.append(f'| {res["name"]} | ' +
                     ' | '.join(f'{v:.3f}' if v <= 1.0 else f'{v:.2f}'
                                for v in vals) +
                     f' | {res["wall_time"] / 60:.1f} min |')
    return '\n'.join(lines)


def run_demo(task: str = 'det', work_dir: Optional[str] = None,
             data_root: Optional[str] = None, quick: bool = False,
             seed: int = 0) -> dict:
    """Run the demo; returns the table, the results and the output files."""
    preset = DEMO_PRESETS[task]
    size = preset['quick' if quick else 'full']
    work_dir = work_dir or osp.join('work_dirs',
                                    'demo' if task == 'det' else 'demo-seg')
    data_root = data_root or osp.join(
        'data', 'coco_shapes' if task == 'det' else 'cityscapes_shapes')
    data_root = osp.join(osp.abspath(data_root), '')
    os.makedirs(work_dir, exist_ok=True)
    start = time.time()
    print(f'[demo] synthetic data set -> {data_root}')
    _make_data(task, data_root, size, seed)
    metric_key = preset['metrics'][0][1]
    teacher_cfg = _configure(task, preset['teacher'], data_root,
                             osp.join(work_dir, 'teacher'), size, seed,
                             teacher=True, teacher_ckpt=None)
    teacher = _train_step('teacher', teacher_cfg, [], metric_key)
    results = []
    for i, (name, path) in enumerate(preset['runs']):
        cfg = _configure(task, path, data_root,
                         osp.join(work_dir, f'student_{i}'), size, seed,
                         teacher=False,
                         teacher_ckpt=teacher['checkpoint'] if i else None)
        results.append(_train_step(name, cfg, [preset['distill_key']],
                                   metric_key))
    table = _table(preset, [teacher] + results)
    plot = _plot(task, preset, results, osp.join(work_dir, 'curves.png'))
    avatars = _avatars(task, preset, data_root, work_dir, size, seed,
                       teacher['checkpoint'], results[-1]['checkpoint'])
    print('\n' + table)
    print(f'\n[demo] total wall time {(time.time() - start) / 60:.1f} min '
          '(finished steps reused)')
    print(f'[demo] curves: {osp.abspath(plot)}')
    print(f'[demo] avatars: {osp.abspath(avatars)}')
    return dict(table=table, results=[teacher] + results, plot=plot,
                avatars=avatars)


def _avatars(task, preset, data_root, work_dir, size, seed, teacher_ckpt,
             akd_ckpt) -> str:
    from mmkd.engine.checkpoint_loading import safe_torch_load
    from mmkd.engine.hooks import DISTILL_STATE_KEY
    from mmkd.registry import MODELS
    from mmkd.visualization import (avatar_panels, prepare_image,
                                    save_avatar_grid)
    from mmengine.registry import DefaultScope
    cfg = _configure(task, preset['runs'][-1][1], data_root, work_dir, size,
                     seed, teacher=False, teacher_ckpt=teacher_ckpt)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        model = MODELS.build(copy.deepcopy(cfg.model))
    ckpt = safe_torch_load(akd_ckpt)
    state = dict(ckpt['state_dict'])
    state.update(ckpt.get(DISTILL_STATE_KEY, {}))
    model.load_state_dict(state)
    model.eval()
    pattern = ('val/*.png' if task == 'det' else 'leftImg8bit/val/*/*.png')
    image = sorted(glob.glob(osp.join(data_root, pattern)))[0]
    data = prepare_image(model, cfg, image)
    panels = avatar_panels(model, data['inputs'], data['data_samples'])
    return save_avatar_grid(panels, osp.join(work_dir, 'avatars.png'),
                            title=f'AKD avatars: {osp.basename(image)}')
