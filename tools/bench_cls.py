# Copyright (c) mmkd contributors. All rights reserved.
"""CPU benchmark of the classification distillers on real data (MNIST).

MNIST's official 10k test split (the only one available offline) is cut
into a seeded 8,000 train / 2,000 val partition (``split_seed`` 0, the same
for every run). The teacher ``configs/cls/mnist/convnet-l_mnist.py`` is
trained once (skipped when its checkpoint, the one the distill configs
point to, exists); then the student alone and the student distilled with
each method of ``configs/cls/mnist/`` are trained over ``--seeds`` seeds
(Runner seed: weights, data order), every run through mmengine's Runner as
``tools/train.py`` builds it (:mod:`mmkd.apis`), all with the same 12-epoch
schedule and each method with its recipe's hyperparameters (nothing tuned
here). Reported: top-1 on the 2,000 val images after the last epoch (no
best-epoch selection), mean +- std over the seeds, as a markdown table.

Independent runs go to ``--workers`` processes with one torch thread each;
the student-alone runs start while the teacher trains.

    python tools/bench_cls.py                       # 3 seeds, 2 workers
    python tools/bench_cls.py --seeds 1 --epochs 2  # quick check
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

CONFIG_DIR = osp.join('configs', 'cls', 'mnist')
TEACHER = 'convnet-l_mnist.py'
STUDENT = 'convnet-s_mnist.py'
PAIR = 'convnet-l_convnet-s_mnist.py'
# method -> its label in the table ('student' is the student alone)
METHODS = {
    'student': 'student alone',
    'kd': 'KD',
    'kd-ls': 'KD + LS',
    'dkd': 'DKD',
    'dkd-ls': 'DKD + LS',
    'rld': 'RLD',
    'rld-ls': 'RLD + LS',
    'ldrld': 'LDRLD',
    'ldrld-ls': 'LDRLD + LS',
    'lsh': 'LSH (LSHL2)',
}
METRIC = 'accuracy/top1'


def config_of(method: str) -> str:
    name = STUDENT if method == 'student' else f'{method}_{PAIR}'
    return osp.join(CONFIG_DIR, name)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--seeds', type=int, default=3,
                        help='number of seeds per method (0..K-1)')
    parser.add_argument('--workers', type=int, default=2,
                        help='parallel processes (one torch thread each)')
    parser.add_argument('--epochs', type=int, default=None,
                        help='student epochs (default: the configs, 12)')
    parser.add_argument('--methods', nargs='+', default=list(METHODS),
                        choices=list(METHODS))
    parser.add_argument('--work-dir', default=osp.join('work_dirs',
                                                       'bench_cls'))
    parser.add_argument('--keep', action='store_true',
                        help="keep the students' work dirs and logs")
    args = parser.parse_args(argv)
    for name in ('seeds', 'workers'):
        if getattr(args, name) < 1:
            parser.error(f'--{name} must be >= 1')
    if args.epochs is not None and args.epochs < 1:
        parser.error('--epochs must be >= 1')
    return args


def _init_worker():
    import torch
    torch.set_num_threads(1)
    # the main process prints the progress; the runs' own output (progress
    # bars, registry notices) would interleave unreadably
    sys.stdout = open(os.devnull, 'w')


def _load(path: str):
    import mmkd  # noqa: F401  (registries)
    from mmkd.utils import load_config
    return load_config(path)


def _quiet(cfg, seed: int) -> None:
    cfg.log_level = 'ERROR'
    cfg.visualizer = dict(type='mmengine.Visualizer', vis_backends=[])
    cfg.default_hooks.logger.interval = 10**9
    cfg.randomness = dict(seed=seed)


def _set_epochs(cfg, epochs: int) -> None:
    cfg.train_cfg.max_epochs = epochs
    for sched in cfg.param_scheduler:
        sched.T_max = sched.end = epochs


def _train(cfg, work_dir: str) -> float:
    """Train through mmkd.apis (the distillation hooks are added as by
    tools/train.py); top-1 of the last validation (after the last epoch)."""
    from mmkd.apis import build_runner, prepare_train_cfg
    cfg = prepare_train_cfg(cfg, work_dir=work_dir)
    cfg.experiment_name = f'{osp.basename(work_dir)}_{uuid.uuid4().hex[:8]}'
    runner = build_runner(cfg)
    runner.train()
    return float(runner.message_hub.get_scalar(f'val/{METRIC}').current())


def teacher_job(job):
    """(checkpoint, seed) -> result: train the teacher, or evaluate the
    existing checkpoint."""
    ckpt, seed = job
    from mmkd.apis import build_runner, prepare_test_cfg
    start, cpu = time.perf_counter(), time.process_time()
    cfg = _load(osp.join(CONFIG_DIR, TEACHER))
    _quiet(cfg, seed)
    trained = not osp.isfile(ckpt)
    if trained:
        cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=-1,
                                            save_last=True)
        acc = _train(cfg, osp.dirname(ckpt))
        if not osp.isfile(ckpt):
            raise RuntimeError(f'the teacher run did not write {ckpt}')
    else:
        cfg = prepare_test_cfg(
            cfg, checkpoint=ckpt,
            work_dir=osp.join(osp.dirname(ckpt), 'bench_eval'))
        cfg.experiment_name = f'teacher_eval_{uuid.uuid4().hex[:8]}'
        acc = float(build_runner(cfg).test()[METRIC])
    return dict(method='teacher', seed=seed, acc=acc, trained=trained,
                seconds=time.perf_counter() - start,
                cpu=time.process_time() - cpu)


def student_job(job):
    """(method, seed, epochs, teacher checkpoint, work_dir, keep) ->
    result."""
    method, seed, epochs, teacher_ckpt, work_dir, keep = job
    start, cpu = time.perf_counter(), time.process_time()
    cfg = _load(config_of(method))
    _quiet(cfg, seed)
    if epochs is not None:
        _set_epochs(cfg, epochs)
    if method != 'student':
        cfg.model.teacher.checkpoint = teacher_ckpt
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=-1,
                                        save_last=False)
    acc = _train(cfg, work_dir)
    if not keep:
        shutil.rmtree(work_dir, ignore_errors=True)
    return dict(method=method, seed=seed, acc=acc,
                seconds=time.perf_counter() - start,
                cpu=time.process_time() - cpu)


def mean_std(values):
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, float('nan')
    var = sum((v - mean)**2 for v in values) / (len(values) - 1)
    return mean, var**0.5


def format_table(results, methods, seeds: int, teacher) -> str:
    by_method = {m: [r for r in results if r['method'] == m] for m in methods}
    base = by_method.get('student')
    base_mean = mean_std([r['acc'] for r in base])[0] if base else None
    lines = [
        '| model | top-1 (%) | vs. student alone | time per run, wall / '
        'CPU (s) |', '|---|---|---|---|',
        f'| teacher (convnet-l, 421,738 params) | {teacher["acc"]:.2f} | - '
        f'| {teacher["seconds"]:.0f} / {teacher["cpu"]:.0f}'
        f'{"" if teacher["trained"] else " (eval only)"} |'
    ]
    for method in methods:
        runs = by_method[method]
        if not runs:
            continue
        mean, std = mean_std([r['acc'] for r in runs])
        spread = f' ± {std:.2f}' if std == std else ''
        delta = '-' if method == 'student' or base_mean is None \
            else f'{mean - base_mean:+.2f}'
        secs = mean_std([r['seconds'] for r in runs])[0]
        cpu = mean_std([r['cpu'] for r in runs])[0]
        label = METHODS[method]
        if method == 'student':
            label += ' (convnet-s, 6,806 params)'
        lines.append(f'| {label} | {mean:.2f}{spread} | {delta} | '
                     f'{secs:.0f} / {cpu:.0f} |')
    lines.append('')
    lines.append(f'MNIST, 8,000 train / 2,000 val images of the official '
                 f'10k test split (split seed 0); top-1 on the val images '
                 f'after the last epoch, mean ± std over {seeds} seed(s).')
    return '\n'.join(lines)


def _report(res, done: int, total: int) -> None:
    print(
        f'[{done}/{total}] {res["method"]} seed {res["seed"]}: top-1 '
        f'{res["acc"]:.2f} ({res["seconds"]:.1f} s wall, {res["cpu"]:.1f} s '
        'CPU)', flush=True)


def main(argv=None):
    args = parse_args(argv)
    os.chdir(ROOT)  # configs use paths relative to the repository root
    import mmkd  # noqa: F401  (before forking: registries, safe loading)
    seeds = list(range(args.seeds))
    teacher_ckpt = _load(config_of('kd')).model.teacher.checkpoint
    wall = time.perf_counter()
    students = [m for m in args.methods if m == 'student']
    distilled = [m for m in args.methods if m != 'student']
    total = 1 + len(args.methods) * len(seeds)

    def job(method, seed):
        work_dir = osp.join(args.work_dir, f'{method}_seed{seed}')
        return (method, seed, args.epochs, teacher_ckpt, work_dir, args.keep)

    results = []
    ctx = mp.get_context('fork')
    with ctx.Pool(args.workers, initializer=_init_worker) as pool:
        teacher_async = pool.apply_async(teacher_job, ((teacher_ckpt, 0), ))
        alone = [
            pool.apply_async(student_job, (job(m, s), )) for m in students
            for s in seeds
        ]
        teacher = teacher_async.get()
        results.append(teacher)
        print(
            f'[1/{total}] teacher '
            f'{"trained" if teacher["trained"] else "found"} '
            f'({teacher_ckpt}): top-1 {teacher["acc"]:.2f} '
            f'({teacher["seconds"]:.1f} s wall, {teacher["cpu"]:.1f} s CPU)',
            flush=True)
        jobs = [job(m, s) for s in seeds for m in distilled]
        for res in pool.imap_unordered(student_job, jobs):
            results.append(res)
            _report(res, len(results), total)
        for res in alone:
            results.append(res.get())
            _report(results[-1], len(results), total)
    wall = time.perf_counter() - wall
    load = os.getloadavg()[1] if hasattr(os, 'getloadavg') else float('nan')
    print()
    print(format_table(results[1:], args.methods, args.seeds, teacher))
    print(f'\n{args.epochs or 12} student epochs, {len(seeds)} seed(s), '
          f'{args.workers} worker(s) x 1 thread; wall time {wall:.0f} s '
          f'({wall / 60:.1f} min); CPU time of all runs '
          f'{sum(r["cpu"] for r in results):.0f} s; 5-min load average at the '
          f'end {load:.1f} on {os.cpu_count()} cores')


if __name__ == '__main__':
    main()
