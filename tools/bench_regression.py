# Copyright (c) mmkd contributors. All rights reserved.
"""Reproduce the table of data-free regression distillation (Zhou & Chiam,
arXiv 2301.04338; METHODS.md section 5).

For every data set and seed ``s`` (split seed = Runner seed = noise seed =
``s``, as the authors re-split and retrain for each seed) it trains the
teacher with ``teacher_mlp500_<ds>.py``, then the five students
(``gaussian``, ``generator-adecr``, ``direct-adecr``, ``generator-a1``,
``direct-a1``, hidden 50 by default) from the configs in
``configs/datafree_regression/``, every run through mmengine's Runner. Each
student is the one with the best validation RMSE (checked every
``--val-interval`` epochs, 1 = the authors' protocol); its test RMSE on the
standardised target is reported as mean +- std over the seeds beside the
published mean.

Independent runs go to ``--workers`` processes with one torch thread each.

    python tools/bench_regression.py                      # full: 10 seeds
    python tools/bench_regression.py --seeds 2 --epochs 200   # quick
"""
import argparse
import multiprocessing as mp
import os
import os.path as osp
import shutil
import sys
import time
import uuid

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))
sys.path.insert(0, ROOT)

import mmkd  # noqa: F401  (registries, safe checkpoint loading)

CONFIG_DIR = osp.join(ROOT, 'configs', 'datafree_regression')
DATASETS = ('compactiv', 'cpusmall', 'mv')
STRATEGIES = ('gaussian', 'generator-adecr', 'direct-adecr', 'generator-a1',
              'direct-a1')
HEADERS = dict(
    teacher='teacher', gaussian='gaussian', **{
        'generator-adecr': 'generator a->0',
        'direct-adecr': 'direct a->0',
        'generator-a1': 'generator a=1',
        'direct-a1': 'direct a=1'
    })
# METHODS.md section 5: published test RMSE (student 50 hidden, 10 seeds).
PUBLISHED = {
    'compactiv':
    dict(
        zip(('teacher', ) + STRATEGIES,
            (.1450, .1554, .1551, .1514, .1837, .1531))),
    'cpusmall':
    dict(
        zip(('teacher', ) + STRATEGIES,
            (.1663, .1760, .1744, .1737, .1842, .1737))),
    'mv':
    dict(
        zip(('teacher', ) + STRATEGIES,
            (.0227, .0237, .0235, .0235, .0441, .0271))),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--seeds', type=int, default=10,
                        help='number of seeds (0..K-1)')
    parser.add_argument('--workers', type=int, default=os.cpu_count() or 1,
                        help='parallel processes (one torch thread each)')
    parser.add_argument('--epochs', type=int, default=None,
                        help='student epochs (default: config, 2000)')
    parser.add_argument('--teacher-epochs', type=int, default=None,
                        help='teacher epochs (default: config, 200)')
    parser.add_argument('--val-interval', type=int, default=1,
                        help='validate the student every N epochs')
    parser.add_argument('--hidden', type=int, default=50, choices=(50, 25))
    parser.add_argument('--datasets', nargs='+', default=list(DATASETS),
                        choices=DATASETS)
    parser.add_argument('--strategies', nargs='+', default=list(STRATEGIES),
                        choices=STRATEGIES)
    parser.add_argument('--work-dir', default=osp.join('work_dirs',
                                                       'bench_regression'))
    parser.add_argument('--keep', action='store_true',
                        help='keep the students\' work dirs')
    args = parser.parse_args(argv)
    for name in ('seeds', 'workers', 'val_interval'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1')
    for name in ('epochs', 'teacher_epochs'):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1')
    return args


def _init_worker():
    import torch
    torch.set_num_threads(1)
    os.environ.setdefault('MMKD_SKIP_VERSION_CHECK', '1')


def _set_split_seed(cfg, seed: int) -> None:
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = cfg[loader]['dataset']
        if dataset.get('type') == 'mmkd.TabularRegressionDataset':
            dataset['split_seed'] = seed


def _quiet(cfg, work_dir: str, seed: int) -> None:
    cfg.work_dir = work_dir
    cfg.experiment_name = f'{osp.basename(work_dir)}_{uuid.uuid4().hex[:8]}'
    cfg.log_level = 'WARNING'
    cfg.visualizer = dict(type='mmengine.Visualizer', vis_backends=[])
    cfg.randomness = dict(seed=seed)
    cfg.default_hooks.logger.interval = 10**9


def _run(cfg) -> float:
    """Train (the BestStateHook of the configs restores the best-validation
    state at the end), then test that state."""
    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    runner.train()
    return float(runner.test()['rmse'])


def train_teacher(job):
    """Job: (dataset, seed, teacher_epochs, work_dir) -> result dict."""
    from mmengine.config import Config
    dataset, seed, epochs, work_dir = job
    start = time.perf_counter()
    cfg = Config.fromfile(osp.join(CONFIG_DIR, f'teacher_mlp500_{dataset}.py'))
    _set_split_seed(cfg, seed)
    _quiet(cfg, work_dir, seed)
    if epochs is not None:
        cfg.train_cfg.max_epochs = epochs
    rmse = _run(cfg)
    return dict(dataset=dataset, method='teacher', seed=seed, rmse=rmse,
                ckpt=osp.join(work_dir, 'best_teacher.pth'),
                seconds=time.perf_counter() - start)


def train_student(job):
    """Job: (dataset, strategy, hidden, seed, epochs, val_interval,
    teacher_ckpt, work_dir, keep) -> result dict."""
    from mmengine.config import Config
    (dataset, strategy, hidden, seed, epochs, val_interval, teacher_ckpt,
     work_dir, keep) = job
    start = time.perf_counter()
    cfg = Config.fromfile(
        osp.join(CONFIG_DIR, f'{strategy}_mlp{hidden}_{dataset}.py'))
    _set_split_seed(cfg, seed)
    _quiet(cfg, work_dir, seed)
    cfg.model.teacher.config = osp.join(CONFIG_DIR,
                                        f'teacher_mlp500_{dataset}.py')
    cfg.model.teacher.checkpoint = teacher_ckpt
    cfg.train_dataloader.dataset.seed = seed
    if epochs is not None:
        cfg.train_cfg.max_iters = epochs
        cfg.train_dataloader.dataset.num_samples = epochs
    cfg.train_cfg.val_interval = val_interval
    cfg.default_hooks.checkpoint.save_last = False
    if not keep:
        cfg.custom_hooks = [
            dict(h, save_filename=None) for h in cfg.custom_hooks
        ]
    rmse = _run(cfg)
    if not keep:
        shutil.rmtree(work_dir, ignore_errors=True)
    return dict(dataset=dataset, method=strategy, seed=seed, rmse=rmse,
                seconds=time.perf_counter() - start)


def _mean_std(values):
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, float('nan')
    var = sum((v - mean)**2 for v in values) / (len(values) - 1)
    return mean, var**0.5


def format_table(results, datasets, methods, seeds: int) -> str:
    lines = [
        '| dataset | ' + ' | '.join(HEADERS[m] for m in methods) + ' |',
        '|---|' + '---|' * len(methods)
    ]
    for ds in datasets:
        cells = []
        for method in methods:
            values = [
                r['rmse'] for r in results
                if r['dataset'] == ds and r['method'] == method
            ]
            if not values:
                cells.append('-')
                continue
            mean, std = _mean_std(values)
            spread = f' ± {std:.4f}' if std == std else ''
            cells.append(f'{mean:.4f}{spread} ({PUBLISHED[ds][method]:.4f})')
        lines.append(f'| {ds} | ' + ' | '.join(cells) + ' |')
    lines.append('')
    lines.append(f'Test RMSE on the standardised target, mean ± std over '
                 f'{seeds} seed(s); in brackets the published mean '
                 '(METHODS.md, 10 seeds).')
    return '\n'.join(lines)


def _run_jobs(pool, func, jobs, label):
    results = []
    for res in pool.imap_unordered(func, jobs):
        results.append(res)
        print(
            f'[{label} {len(results)}/{len(jobs)}] {res["dataset"]} '
            f'{res["method"]} seed {res["seed"]}: rmse {res["rmse"]:.4f} '
            f'({res["seconds"]:.1f} s)', flush=True)
    return results


def main(argv=None):
    args = parse_args(argv)
    os.chdir(ROOT)  # configs use paths relative to the repository root
    seeds = list(range(args.seeds))
    wall = time.perf_counter()
    ctx = mp.get_context('fork')
    with ctx.Pool(args.workers, initializer=_init_worker) as pool:
        jobs = [(ds, s, args.teacher_epochs,
                 osp.join(args.work_dir, f'teacher_{ds}_seed{s}'))
                for ds in args.datasets for s in seeds]
        t0 = time.perf_counter()
        teachers = _run_jobs(pool, train_teacher, jobs, 'teacher')
        teacher_time = time.perf_counter() - t0
        ckpt = {(r['dataset'], r['seed']): r['ckpt'] for r in teachers}
        jobs = [(ds, st, args.hidden, s, args.epochs, args.val_interval,
                 ckpt[(ds, s)],
                 osp.join(args.work_dir,
                          f'{st}_mlp{args.hidden}_{ds}_seed{s}'), args.keep)
                for ds in args.datasets for s in seeds
                for st in args.strategies]
        t0 = time.perf_counter()
        students = _run_jobs(pool, train_student, jobs, 'student')
        student_time = time.perf_counter() - t0
    wall = time.perf_counter() - wall
    methods = ['teacher'] + list(args.strategies)
    print()
    print(
        format_table(teachers + students, args.datasets, methods, args.seeds))
    per_student = {
        st: _mean_std([r['seconds'] for r in students if r['method'] == st])[0]
        for st in args.strategies
    }
    print(f'\nstudent epochs: {args.epochs or 2000}, hidden '
          f'{args.hidden}, val every {args.val_interval} epoch(s), '
          f'{args.workers} worker(s)')
    print(f'wall time: {wall:.1f} s (teachers {teacher_time:.1f} s, '
          f'students {student_time:.1f} s)')
    print('mean time per run: teacher '
          f'{_mean_std([r["seconds"] for r in teachers])[0]:.1f} s; ' +
          ', '.join(f'{st} {t:.1f} s' for st, t in per_student.items()))


if __name__ == '__main__':
    main()
