# Copyright (c) mmkd contributors. All rights reserved.
"""`make demo`: a teacher, then one student trained alone, with a base
feature distiller and with AKD over that base; a table, plots and the
avatar picture.

The pieces (the synthetic set, the toy configs at a size and seed, a
training step whose result is cached on disk) are shared with
``demo/bench_dense.py``. A finished step is reused only when its key (the
resolved config, the teacher checkpoint's content, the data set's
parameters, the number of torch threads, mmkd's sources and the stack's
versions, :func:`step_key`) is the one it was made with; any other finished
step is trained again."""
import copy
import functools
import glob
import hashlib
import json
import os
import os.path as osp
import shutil
import time
from typing import Dict, List, Optional

from mmengine.config import Config

from mmkd.apis.runner_cfg import build_runner, prepare_train_cfg
from mmkd.utils.config import load_config

REPO_ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))
RESULT_FILE = 'demo_result.json'

DEMO_PRESETS = {
    'det':
    dict(
        teacher='configs/toy/retinanet_r18-w64_shapes-coco.py', runs=[
            ('student alone', 'configs/toy/retinanet_r18-w32_shapes-coco.py'),
            ('PKD (base)',
             'configs/pkd/pkd_fpn_retinanet_r18-w64_r18-w32_toy-shapes.py'),
            ('AKD over PKD', 'configs/akd/'
             'akd-pkd_fpn_retinanet_r18-w64_r18-w32_toy-shapes.py'),
        ], metrics=[('AP', 'coco/bbox_mAP'), ('AP50', 'coco/bbox_mAP_50'),
                    ('AP75', 'coco/bbox_mAP_75')],
        distill_key='distill.neck.loss',
        full=dict(num_train=256, num_val=64, img=96, batch=16,
                  teacher_epochs=60, student_epochs=30, val_every=5,
                  log_every=10),
        quick=dict(num_train=8, num_val=4, img=64, batch=4, teacher_epochs=1,
                   student_epochs=1, val_every=1, log_every=1)),
    'seg':
    dict(
        teacher='configs/toy/pspnet_r18-w32_shapes-cityscapes.py', runs=[
            ('student alone',
             'configs/toy/pspnet_r18-w16_shapes-cityscapes.py'),
            ('CWD (base)',
             'configs/cwd/cwd_logits_pspnet_r18-w32_r18-w16_toy-shapes.py'),
            ('AKD over CWD', 'configs/akd/'
             'akd-cwd_logits_pspnet_r18-w32_r18-w16_toy-shapes.py'),
        ], metrics=[('mIoU', 'mIoU'), ('mAcc', 'mAcc'), ('aAcc', 'aAcc')],
        distill_key='distill.decode_head.conv_seg.loss',
        full=dict(num_train=64, num_val=16, img=(128, 256), batch=4,
                  teacher_iters=600, student_iters=300, val_every=100,
                  log_every=10),
        quick=dict(num_train=4, num_val=2, img=(64, 128), batch=2,
                   teacher_iters=2, student_iters=2, val_every=2,
                   log_every=1)),
}


def make_data(task: str, data_root: str, size: dict, seed: int) -> None:
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


def data_description(task: str, size: dict, seed: int) -> str:
    """What :func:`make_data` makes the set from (part of a step's key)."""
    keys = ('num_train', 'num_val', 'img')
    return json.dumps(
        dict(task=task, seed=seed, **{k: size[k]
                                      for k in keys}), sort_keys=True)


def student_cfg(cfg: Config) -> Config:
    return cfg.model.get('student', cfg.model)


def _val_schedule(every: Optional[int], length: int) -> dict:
    """Validation every ``every`` epochs/iterations; none during training
    when ``every`` is None (mmengine's loops would otherwise validate at the
    last one too, and :func:`train_step` evaluates after training)."""
    if every is None:
        return dict(val_interval=length, val_begin=length + 1)
    return dict(val_interval=min(every, length))


def configure(task: str, path: str, data_root: str, work_dir: str, size: dict,
              seed: int, teacher: bool, teacher_ckpt: Optional[str],
              distill_options: Optional[dict] = None) -> Config:
    """The toy config at the given size, data root, seed and schedule.

    ``size`` as in :data:`DEMO_PRESETS`; ``val_every=None`` evaluates only
    once, after training (:func:`train_step`). ``seed`` is the Runner's
    ``randomness.seed``: the initialisation, the data order, the
    augmentation and the avatar stream. ``distill_options`` (mmengine
    ``--cfg-options`` style keys) are merged into a distillation config,
    e.g. ``{'model.teacher_exec.memory_format': 'contiguous'}``."""
    cfg = load_config(osp.join(REPO_ROOT, path))
    if distill_options and teacher_ckpt is not None:
        cfg.merge_from_dict(distill_options)
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
                             **_val_schedule(size['val_every'], epochs))
        warmup = min(50,
                     max(1, epochs * size['num_train'] // size['batch'] // 4))
        cfg.param_scheduler = [
            dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
                 end=warmup),
            dict(type='MultiStepLR', by_epoch=True, begin=0, end=epochs,
                 milestones=[max(1, int(epochs * 0.8))], gamma=0.1)
        ]
        cfg.default_hooks.checkpoint = dict(type='CheckpointHook',
                                            interval=epochs, max_keep_ckpts=1)
        student_cfg(cfg).test_cfg.score_thr = 0.01
    else:
        student_cfg(cfg).data_preprocessor.size = tuple(size['img'])
        iters = size['teacher_iters' if teacher else 'student_iters']
        cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters,
                             **_val_schedule(size['val_every'], iters))
        cfg.param_scheduler = [
            dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=iters,
                 by_epoch=False)
        ]
        cfg.default_hooks.checkpoint = dict(type='CheckpointHook',
                                            by_epoch=False, interval=iters,
                                            max_keep_ckpts=1)
    cfg.default_hooks.logger = dict(type='LoggerHook',
                                    interval=size['log_every'],
                                    log_metric_by_epoch=task == 'det')
    if isinstance(teacher_ckpt, dict):  # several teachers, by name
        for name, ckpt in teacher_ckpt.items():
            cfg.model.teachers[name].checkpoint = ckpt
    elif teacher_ckpt is not None:
        cfg.model.teacher.checkpoint = teacher_ckpt
    cfg.randomness = dict(seed=seed)
    cfg.work_dir = work_dir
    # one visualizer (and scalars.json) per run: mmengine reuses an instance
    # of the same name within a process
    cfg.visualizer.name = f'demo_{osp.basename(work_dir)}_{time.time_ns()}'
    return cfg


def history(work_dir: str, keys: List[str]) -> Dict[str, list]:
    """(step, value) series of the given scalars from mmengine's
    vis_data/scalars.json (the newest run in ``work_dir``)."""
    files = sorted(
        glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
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


@functools.lru_cache()
def code_fingerprint() -> str:
    """Hash of mmkd's Python sources and the versions of the stack, taken
    once per process: a finished step made by other code is not reused."""
    import mmcv
    import mmdet
    import mmengine
    import mmseg
    import torch

    import mmkd
    digest = hashlib.sha1()
    for mod in (torch, mmengine, mmcv, mmdet, mmseg):
        digest.update(f'{mod.__name__}=={mod.__version__};'.encode())
    package = osp.dirname(osp.abspath(mmkd.__file__))
    for path in sorted(
            glob.glob(osp.join(package, '**', '*.py'), recursive=True)):
        digest.update(osp.relpath(path, package).encode())
        with open(path, 'rb') as f:
            digest.update(f.read())
    return digest.hexdigest()


def git_head() -> str:
    """The commit checked out, and whether mmkd/ or configs/ differ from
    it (the code a table was made with; see also :func:`code_fingerprint`).
    """
    import subprocess

    def git(*args):
        return subprocess.run(('git', '-C', REPO_ROOT) + args,
                              capture_output=True, text=True).stdout.strip()

    head = git('rev-parse', '--short', 'HEAD') or 'unknown'
    dirty = git('status', '--porcelain', '--', 'mmkd', 'configs')
    return f'{head} (mmkd/configs modified)' if dirty else head


def _file_digest(path: str) -> str:
    digest = hashlib.sha1()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def step_key(cfg: Config, data: str = '') -> str:
    """What determines a training step's result: the resolved config (less
    its work dir and visualizer name, which do not change the numbers), the
    content of the teacher checkpoint it loads, ``data`` (what the
    synthetic set was made with), the number of torch threads (float
    reductions are split by it) and :func:`code_fingerprint`."""
    import torch
    resolved = cfg.to_dict()
    resolved.pop('work_dir', None)
    resolved.get('visualizer', {}).pop('name', None)
    teacher = resolved.get('model', {}).get('teacher')
    checkpoint = teacher.get('checkpoint') if isinstance(teacher,
                                                         dict) else None
    if checkpoint and osp.isfile(checkpoint):
        teacher['checkpoint'] = _file_digest(checkpoint)
    text = json.dumps(resolved, sort_keys=True, default=repr)
    return hashlib.sha1(f'{text}|{data}|threads={torch.get_num_threads()}|'
                        f'{code_fingerprint()}'.encode()).hexdigest()


def train_step(name: str, cfg: Config, keys: List[str], metric_key: str,
               data: str = '', prefix: str = '[demo]',
               keep_checkpoint: bool = True) -> dict:
    """Train and evaluate, unless ``cfg.work_dir`` holds a finished result
    with the same :func:`step_key` (reused, ``reused=True``); a finished
    result with another key is removed with its work dir and trained
    again. Returns the result record. ``data`` describes the synthetic set
    (see :func:`data_description`). ``keep_checkpoint=False`` deletes the
    checkpoint once the result is written (``checkpoint`` is then None)."""
    key = step_key(cfg, data)
    result_file = osp.join(cfg.work_dir, RESULT_FILE)
    if osp.isfile(result_file):
        with open(result_file) as f:
            result = json.load(f)
        if result.get('key') == key:
            print(f'{prefix} {name}: finished before (same config, teacher '
                  f'and code), reusing {cfg.work_dir}')
            return dict(result, reused=True)
        print(f'{prefix} {name}: the finished run in {cfg.work_dir} was '
              'made with another config, teacher or code: training again')
        shutil.rmtree(cfg.work_dir)
    print(f'{prefix} training {name} -> {cfg.work_dir}')
    start = time.time()
    runner = build_runner(prepare_train_cfg(cfg, work_dir=cfg.work_dir))
    runner.train()
    wall = time.time() - start
    metrics = {k: float(v) for k, v in runner.val_loop.run().items()}
    ckpts = sorted(
        glob.glob(osp.join(cfg.work_dir, '*.pth')), key=osp.getmtime)
    checkpoint = ckpts[-1]
    if not keep_checkpoint:
        for path in ckpts:
            os.remove(path)
        checkpoint = None
    result = dict(name=name, key=key, code=code_fingerprint(), metrics=metrics,
                  wall_time=wall, checkpoint=checkpoint,
                  history=history(cfg.work_dir, keys + [metric_key]))
    with open(result_file, 'w') as f:
        json.dump(result, f)
    return dict(result, reused=False)


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
    lines = [
        '| run | ' + ' | '.join(names) + ' | wall time |',
        '|---|' + '---:|' * (len(names) + 1)
    ]
    for res in rows:
        vals = [
            res['metrics'].get(k, float('nan')) for _, k in preset['metrics']
        ]
        lines.append(f'| {res["name"]} | ' +
                     ' | '.join(f'{v:.3f}' if v <= 1.0 else f'{v:.2f}'
                                for v in vals) +
                     f' | {res["wall_time"] / 60:.1f} min |')
    return '\n'.join(lines)


def run_demo(task: str = 'det', work_dir: Optional[str] = None,
             data_root: Optional[str] = None, quick: bool = False,
             seed: int = 0, distill_options: Optional[dict] = None) -> dict:
    """Run the demo; returns the table, the results and the output files.
    ``distill_options``: see :func:`configure`."""
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
    make_data(task, data_root, size, seed)
    metric_key = preset['metrics'][0][1]
    teacher_cfg = configure(task, preset['teacher'], data_root,
                            osp.join(work_dir, 'teacher'), size, seed,
                            teacher=True, teacher_ckpt=None)
    data = data_description(task, size, seed)
    teacher = train_step('teacher', teacher_cfg, [], metric_key, data)
    results = []
    for i, (name, path) in enumerate(preset['runs']):
        cfg = configure(task, path, data_root,
                        osp.join(work_dir,
                                 f'student_{i}'), size, seed, teacher=False,
                        teacher_ckpt=teacher['checkpoint'] if i else None,
                        distill_options=distill_options)
        results.append(
            train_step(name, cfg, [preset['distill_key']], metric_key, data))
    table = _table(preset, [teacher] + results)
    plot = _plot(task, preset, results, osp.join(work_dir, 'curves.png'))
    avatars = _avatars(task, preset, data_root, work_dir, size, seed,
                       teacher['checkpoint'], results[-1]['checkpoint'],
                       distill_options)
    print('\n' + table)
    import torch
    reused = sum(r['reused'] for r in [teacher] + results)
    print(f'\n[demo] total wall time {(time.time() - start) / 60:.1f} min '
          f'({reused} of {len(results) + 1} training steps reused)')
    print(f'[demo] code: commit {git_head()}, mmkd sources '
          f'{code_fingerprint()[:12]}, {torch.get_num_threads()} torch '
          'threads')
    print(f'[demo] curves: {osp.abspath(plot)}')
    print(f'[demo] avatars: {osp.abspath(avatars)}')
    return dict(table=table, results=[teacher] + results, plot=plot,
                avatars=avatars)


def _avatars(task, preset, data_root, work_dir, size, seed, teacher_ckpt,
             akd_ckpt, distill_options=None) -> str:
    from mmengine.registry import DefaultScope

    from mmkd.engine.checkpoint_loading import safe_torch_load
    from mmkd.engine.hooks import DISTILL_STATE_KEY
    from mmkd.registry import MODELS
    from mmkd.visualization import (avatar_panels, prepare_image,
                                    save_avatar_grid)
    cfg = configure(task, preset['runs'][-1][1], data_root, work_dir, size,
                    seed, teacher=False, teacher_ckpt=teacher_ckpt,
                    distill_options=distill_options)
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
