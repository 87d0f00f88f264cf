# Copyright (c) mmkd contributors. All rights reserved.
"""`make bench-dense`: AKD against its base distillers over several seeds,
with paired statistics and an ablation (``tools/bench_dense.py``).

Detection (the toy RetinaNet pair on the synthetic shapes set): the student
alone, PKD, AKD over PKD, CWD and AKD over CWD; segmentation (the toy
PSPNet pair): the student alone, CWD and AKD over CWD. The data set and the
teacher (trained once per task, seed 0) are fixed; seed ``s`` of a student
run is the Runner's ``randomness.seed``: the student's initialisation, the
data order, the augmentation and the avatar stream. Every run has the same
schedule (no per-method tuning). Then the AKD options are ablated at one
detection base (the one where AKD over it gains most AP, or PKD if it
gains nowhere), on the same seeds.

The runs use :mod:`demo.pipeline`'s pieces (the toy configs at a size,
cached training steps): a finished run is reused when its config, teacher
and code are unchanged, so an interrupted benchmark resumes. Runs go to
``workers`` processes with one torch thread each: a run's numbers then do
not depend on the machine's core count, the number of workers or what the
process ran before.
"""
import contextlib
import json
import math
import multiprocessing as mp
import os
import os.path as osp
import time
from typing import Dict, List, Optional, Sequence

import numpy as np

from .pipeline import (DEMO_PRESETS, configure, data_description, git_head,
                       make_data, train_step)

DATA_SEED = 0
TEACHER_SEED = 0

# the AKD options ablated (each changes one option of the default AKD row:
# N = 8 avatars, p = 0.1, per-channel uncertainty, dropout avatars)
ABLATIONS = (
    ('N=1', dict(num_avatars=1)),
    ('N=4', dict(num_avatars=4)),
    ('p=0.05', dict(drop_prob=0.05)),
    ('p=0.2', dict(drop_prob=0.2)),
    ('uncertainty=none', dict(uncertainty='none')),
    ('uncertainty=batchnorm', dict(uncertainty='batchnorm')),
    ('perturbation=gaussian', dict(perturbation='gaussian')),
)

BENCH_PRESETS = {
    'det': dict(
        teacher=DEMO_PRESETS['det']['teacher'],
        runs=dict(
            student=('student alone',
                     'configs/toy/retinanet_r18-w32_shapes-coco.py'),
            pkd=('PKD', 'configs/pkd/'
                 'pkd_fpn_retinanet_r18-w64_r18-w32_toy-shapes.py'),
            **{'akd-pkd': ('AKD over PKD', 'configs/akd/'
                           'akd-pkd_fpn_retinanet_r18-w64_r18-w32_toy-'
                           'shapes.py')},
            cwd=('CWD', 'configs/cwd/'
                 'cwd_fpn_retinanet_r18-w64_r18-w32_toy-shapes.py'),
            **{'akd-cwd': ('AKD over CWD', 'configs/akd/'
                           'akd-cwd_fpn_retinanet_r18-w64_r18-w32_toy-'
                           'shapes.py')}),
        pairs={'akd-pkd': 'pkd', 'akd-cwd': 'cwd'},
        metrics=DEMO_PRESETS['det']['metrics'],
        seeds=5,
        full=dict(num_train=128, num_val=64, img=64, batch=8,
                  teacher_epochs=30, student_epochs=10, val_every=None,
                  log_every=10),
        quick=dict(num_train=8, num_val=4, img=64, batch=4,
                   teacher_epochs=1, student_epochs=1, val_every=None,
                   log_every=1)),
    'seg': dict(
        teacher=DEMO_PRESETS['seg']['teacher'],
        runs=dict(
            student=('student alone',
                     'configs/toy/pspnet_r18-w16_shapes-cityscapes.py'),
            cwd=('CWD', 'configs/cwd/'
                 'cwd_logits_pspnet_r18-w32_r18-w16_toy-shapes.py'),
            **{'akd-cwd': ('AKD over CWD', 'configs/akd/'
                           'akd-cwd_logits_pspnet_r18-w32_r18-w16_toy-'
                           'shapes.py')}),
        pairs={'akd-cwd': 'cwd'},
        metrics=DEMO_PRESETS['seg']['metrics'],
        seeds=3,
        full=dict(num_train=48, num_val=16, img=(64, 128), batch=4,
                  teacher_iters=400, student_iters=150, val_every=None,
                  log_every=10),
        quick=dict(num_train=4, num_val=2, img=(64, 128), batch=2,
                   teacher_iters=2, student_iters=2, val_every=None,
                   log_every=1)),
}


# ------------------------------------------------------------- statistics
def _t_quantile(q: float, dof: int) -> float:
    from scipy.stats import t
    return float(t.ppf(q, dof))


def summarize(values: Sequence[float]) -> dict:
    """Mean and sample standard deviation (``ddof=1``; 0 for one value)."""
    x = np.asarray(values, dtype=np.float64)
    std = float(x.std(ddof=1)) if x.size > 1 else 0.
    return dict(n=int(x.size), mean=float(x.mean()), std=std)


def paired_difference(values: Sequence[float], base: Sequence[float],
                      level: float = 0.95) -> dict:
    """``values - base`` seed by seed: the mean difference, its sample std,
    the two-sided Student's t interval ``mean +- t_{(1+level)/2, n-1} std /
    sqrt(n)`` over the seeds and how many seeds are better. The interval is
    NaN for a single seed."""
    d = np.asarray(values, dtype=np.float64) - np.asarray(base,
                                                          dtype=np.float64)
    out = summarize(d)
    n = out['n']
    if n > 1:
        half = _t_quantile((1 + level) / 2, n - 1) * out['std'] / math.sqrt(n)
    else:
        half = float('nan')
    out.update(diffs=d.tolist(), low=out['mean'] - half,
               high=out['mean'] + half, level=level,
               better=int((d > 0).sum()))
    return out


# ------------------------------------------------------------------- runs
def _job(task: str, kind: str, seed: int, path: str, work_dir: str,
         data_root: str, size: dict, teacher_ckpt: Optional[str],
         loss_options: Optional[dict] = None) -> dict:
    return dict(task=task, kind=kind, seed=seed, path=path,
                work_dir=work_dir, data_root=data_root, size=size,
                teacher_ckpt=teacher_ckpt, loss_options=loss_options)


def _execute(job: dict) -> dict:
    """:func:`_train` that returns a failure (``error``: the traceback)
    instead of raising, so that the other runs go on and are cached."""
    try:
        return _train(job)
    except Exception:  # reported, then raised by _run_all
        import traceback
        return dict(job, error=traceback.format_exc())


def _train(job: dict) -> dict:
    """Build the run's config and train it (or reuse it); the Runner's own
    output goes to ``<work_dir>.log``."""
    teacher = job['kind'] == 'teacher'
    cfg = configure(job['task'], job['path'], job['data_root'],
                    job['work_dir'], job['size'], job['seed'], teacher,
                    job['teacher_ckpt'])
    if job['loss_options']:
        entries = cfg.model.distill
        # a list of entries, or a dict of them by name
        for entry in (entries.values() if isinstance(entries, dict) else
                      entries):
            entry.loss.update(job['loss_options'])
    metric_key = BENCH_PRESETS[job['task']]['metrics'][0][1]
    os.makedirs(osp.dirname(job['work_dir']), exist_ok=True)
    with open(job['work_dir'] + '.log', 'a') as log, \
            contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        result = train_step(
            f'{job["task"]} {job["kind"]} seed {job["seed"]}', cfg, [],
            metric_key,
            data_description(job['task'], job['size'], DATA_SEED),
            prefix='[bench]', keep_checkpoint=teacher)
    result.pop('history', None)
    return dict(job, result=result)


def _init_worker() -> None:
    import torch
    torch.set_num_threads(1)


class _Progress:
    """``[bench] run i/n ...`` lines with an estimate of the time left (from
    the runs trained so far in this invocation)."""

    def __init__(self, total: int, workers: int) -> None:
        self.total, self.workers = total, workers
        self.done = 0
        self.trained_wall = 0.
        self.trained = 0
        self.start = time.time()

    def update(self, out: dict) -> None:
        self.done += 1
        if 'error' in out:
            print(f'[bench] run {self.done}/{self.total}: {out["task"]} '
                  f'{out["kind"]} seed {out["seed"]} FAILED (log: '
                  f'{out["work_dir"]}.log):\n{out["error"]}', flush=True)
            return
        res = out['result']
        if not res['reused']:
            self.trained += 1
            self.trained_wall += res['wall_time']
        left = self.total - self.done
        if self.trained:
            per_run = self.trained_wall / self.trained / self.workers
            eta = f'eta {left * per_run / 60:.1f} min'
        else:
            eta = 'eta ?'
        metric, key = BENCH_PRESETS[out['task']]['metrics'][0]
        value = res['metrics'].get(key, float('nan'))
        how = 'reused' if res['reused'] else \
            f'{res["wall_time"] / 60:.1f} min'
        print(f'[bench] run {self.done}/{self.total}: {out["task"]} '
              f'{out["kind"]} seed {out["seed"]}: {metric} {value:.3f} '
              f'({how}; elapsed {(time.time() - self.start) / 60:.1f} min, '
              f'{eta})', flush=True)


def _run_all(jobs: List[dict], pool, progress: _Progress) -> List[dict]:
    results = []
    outputs = pool.imap_unordered(_execute, jobs) if pool is not None \
        else map(_execute, jobs)
    for out in outputs:
        progress.update(out)
        results.append(out)
    failed = [o for o in results if 'error' in o]
    if failed:
        raise RuntimeError(
            f'{len(failed)} run(s) failed (the others are cached; run the '
            'benchmark again to resume): ' + ', '.join(
                f'{o["task"]} {o["kind"]} seed {o["seed"]}' for o in failed))
    return results


def _choose_ablation_base(stats: dict) -> str:
    """The detection AKD row with the largest mean paired AP gain over its
    base, if any gains; else AKD over PKD."""
    gains = {kind: diff['metrics']['AP']['mean']
             for kind, diff in stats['det']['pairs'].items()}
    best = max(gains, key=gains.get)
    return best if gains[best] > 0 else 'akd-pkd'


# ------------------------------------------------------------------ tables
def _fmt(value: float, percent: bool) -> str:
    return f'{value:.2f}' if percent else f'{value:.3f}'


def _fmt_diff(diff: dict, percent: bool) -> str:
    sign = '+' if diff['mean'] >= 0 else ''
    return (f'{sign}{_fmt(diff["mean"], percent)} '
            f'[{_fmt(diff["low"], percent)}, {_fmt(diff["high"], percent)}]')


def task_stats(task: str, runs: Dict[str, Dict[int, dict]],
               seeds: Sequence[int]) -> dict:
    """Per run type and metric: mean/std over ``seeds``; per AKD row (and
    ablation variant) the paired difference to its base."""
    preset = BENCH_PRESETS[task]
    values = {
        kind: {name: [by_seed[s]['metrics'][key] for s in seeds]
               for name, key in preset['metrics']}
        for kind, by_seed in runs.items() if kind != 'teacher'
    }
    out = dict(values=values,
               summary={kind: {m: summarize(v) for m, v in per.items()}
                        for kind, per in values.items()},
               pairs={})
    for kind in values:
        base = preset['pairs'].get(kind.split(':')[0])
        if base is not None:
            out['pairs'][kind] = dict(base=base, metrics={
                m: paired_difference(values[kind][m], values[base][m])
                for m in values[kind]})
    return out


def _label(task: str, kind: str) -> str:
    runs = BENCH_PRESETS[task]['runs']
    if ':' in kind:
        akd, variant = kind.split(':')
        return f'{runs[akd][0]}, {variant}'
    return runs[kind][0]


def format_tables(stats: dict, teachers: dict) -> str:
    """Markdown: per task the metrics (mean +- std over the seeds) and the
    paired differences of the AKD rows to their bases (mean [95% CI])."""
    lines = []
    for task, st in stats.items():
        preset = BENCH_PRESETS[task]
        names = [n for n, _ in preset['metrics']]
        percent = task == 'seg'
        n = next(iter(st['summary'].values()))[names[0]]['n']
        lines += [f'**{task}** ({n} seeds; mean +- std over the seeds)', '',
                  '| run | ' + ' | '.join(names) + ' |',
                  '|---|' + '---:|' * len(names)]
        teacher = teachers[task]['metrics']
        lines.append('| teacher (one run) | ' + ' | '.join(
            _fmt(teacher[k], percent) for _, k in preset['metrics']) + ' |')
        for kind, per in st['summary'].items():
            lines.append(f'| {_label(task, kind)} | ' + ' | '.join(
                f'{_fmt(per[m]["mean"], percent)} +- '
                f'{_fmt(per[m]["std"], percent)}' for m in names) + ' |')
        lines += ['', f'Paired difference to the base, same seed: mean '
                  '[95% CI, Student\'s t over the seeds]; "better" counts '
                  f'the seeds where it is > 0 ({names[0]}).', '',
                  '| run - base | ' + ' | '.join(f'd{m}' for m in names) +
                  ' | better |', '|---|' + '---:|' * (len(names) + 1)]
        for kind, pair in st['pairs'].items():
            base = _label(task, pair['base'])
            diffs = pair['metrics']
            lines.append(
                f'| {_label(task, kind)} - {base} | ' +
                ' | '.join(_fmt_diff(diffs[m], percent) for m in names) +
                f' | {diffs[names[0]]["better"]}/{diffs[names[0]]["n"]} |')
        lines.append('')
    return '\n'.join(lines)


def plot_differences(stats: dict, out: str) -> str:
    """Per task, the paired differences of the primary metric: one point
    per seed, the mean with its 95% interval as a bar."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    tasks = [t for t in stats if stats[t]['pairs']]
    widths = [max(2, len(stats[t]['pairs'])) for t in tasks]
    fig, axes = plt.subplots(1, len(tasks), squeeze=False,
                             figsize=(1.2 * sum(widths) + 2, 4.5),
                             gridspec_kw=dict(width_ratios=widths))
    for ax, task in zip(axes[0], tasks):
        metric = BENCH_PRESETS[task]['metrics'][0][0]
        pairs = stats[task]['pairs']
        for x, (kind, pair) in enumerate(pairs.items()):
            diff = pair['metrics'][metric]
            d = np.asarray(diff['diffs'])
            jitter = np.linspace(-0.12, 0.12, len(d)) if len(d) > 1 else [0]
            ax.plot(x + np.asarray(jitter), d, 'o', color='tab:blue',
                    alpha=0.7, label='one seed' if x == 0 else None)
            ax.errorbar(x + 0.3, diff['mean'],
                        yerr=[[diff['mean'] - diff['low']],
                              [diff['high'] - diff['mean']]],
                        fmt='s', color='black', capsize=4,
                        label='mean, 95% CI' if x == 0 else None)
        ax.axhline(0, color='gray', lw=0.8)
        ax.set_xticks(range(len(pairs)))
        ax.set_xticklabels([_label(task, k).replace(', ', '\n')
                            for k in pairs], rotation=60, ha='right',
                           fontsize=8)
        ax.set_ylabel(f'{metric}: AKD - base (same seed)')
        ax.set_title(task)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


# ------------------------------------------------------------------- main
def run_bench(work_dir: str = osp.join('work_dirs', 'bench_dense'),
              data_root: str = osp.join('data', 'bench_dense'),
              quick: bool = False,
              seeds: Optional[Dict[str, int]] = None,
              tasks: Sequence[str] = ('det', 'seg'),
              ablation: bool = True,
              workers: int = 1) -> dict:
    """Run (or resume) the benchmark; returns the statistics, the markdown
    tables and the output files (``results.md``, ``results.json``,
    ``paired_differences.png`` in ``work_dir``)."""
    start = time.time()
    seeds = {t: (seeds or {}).get(t, BENCH_PRESETS[t]['seeds'])
             for t in tasks}
    sizes = {t: BENCH_PRESETS[t]['quick' if quick else 'full']
             for t in tasks}
    roots = {t: osp.join(osp.abspath(data_root), t, '') for t in tasks}
    for t in tasks:
        print(f'[bench] {t}: synthetic set -> {roots[t]}')
        make_data(t, roots[t], sizes[t], DATA_SEED)

    def jobs_for(task, kinds, teacher_ckpt, options=None):
        preset = BENCH_PRESETS[task]
        for kind in kinds:
            akd, _, variant = kind.partition(':')
            for seed in range(seeds[task]):
                name = kind.replace(':', '_').replace('=', '')
                yield _job(task, kind, seed, preset['runs'][akd][1],
                           osp.join(work_dir, task, name, f'seed{seed}'),
                           roots[task], sizes[task],
                           None if kind == 'student' else teacher_ckpt,
                           options and options[variant])

    main_kinds = {t: list(BENCH_PRESETS[t]['runs']) for t in tasks}
    num_ablation = len(ABLATIONS) * seeds['det'] \
        if ablation and 'det' in tasks else 0
    total = len(tasks) + sum(
        len(main_kinds[t]) * seeds[t] for t in tasks) + num_ablation
    progress = _Progress(total, workers)
    pool = mp.get_context('spawn').Pool(
        workers, initializer=_init_worker) if workers > 1 else None
    if pool is None:
        import torch
        threads = torch.get_num_threads()
        _init_worker()
    try:
        teacher_jobs = [
            _job(t, 'teacher', TEACHER_SEED, BENCH_PRESETS[t]['teacher'],
                 osp.join(work_dir, t, 'teacher'), roots[t], sizes[t], None)
            for t in tasks
        ]
        teachers = {o['task']: o['result']
                    for o in _run_all(teacher_jobs, pool, progress)}
        jobs = [j for t in tasks for j in jobs_for(
            t, main_kinds[t], teachers[t]['checkpoint'])]
        outs = _run_all(jobs, pool, progress)
        runs = {t: {} for t in tasks}
        for o in outs:
            runs[o['task']].setdefault(o['kind'], {})[o['seed']] = o['result']
        runs = {t: {k: runs[t][k] for k in main_kinds[t]} for t in tasks}
        stats = {t: task_stats(t, runs[t], range(seeds[t])) for t in tasks}
        ablation_base = None
        if num_ablation:
            ablation_base = _choose_ablation_base(stats)
            print(f'[bench] ablation at {_label("det", ablation_base)} '
                  '(the detection AKD row with the largest mean AP gain '
                  'over its base, else AKD over PKD)')
            kinds = [f'{ablation_base}:{name}' for name, _ in ABLATIONS]
            outs = _run_all(list(jobs_for(
                'det', kinds, teachers['det']['checkpoint'],
                dict(ABLATIONS))), pool, progress)
            for o in outs:
                runs['det'].setdefault(o['kind'], {})[o['seed']] = \
                    o['result']
            for kind in kinds:  # ordered as ABLATIONS
                runs['det'][kind] = runs['det'].pop(kind)
            stats['det'] = task_stats('det', runs['det'],
                                      range(seeds['det']))
    finally:
        if pool is not None:
            pool.close()
            pool.join()
        else:
            import torch
            torch.set_num_threads(threads)
    wall = time.time() - start
    tables = format_tables(stats, teachers)
    os.makedirs(work_dir, exist_ok=True)
    plot = plot_differences(stats,
                            osp.join(work_dir, 'paired_differences.png'))
    codes = sorted({r['code'][:12] for t in runs.values()
                    for by_seed in t.values() for r in by_seed.values()})
    header = (f'`make bench-dense` ({"quick" if quick else "full"} size, '
              f'{workers} worker(s) x 1 torch thread): wall time '
              f'{wall / 60:.1f} min, {progress.trained} of {total} runs '
              f'trained in this invocation, the rest reused; code '
              f'{git_head()}, mmkd sources {", ".join(codes)}.')
    with open(osp.join(work_dir, 'results.md'), 'w') as f:
        f.write(header + '\n\n' + tables)
    with open(osp.join(work_dir, 'results.json'), 'w') as f:
        json.dump(dict(header=header, stats=stats, teachers=teachers,
                       seeds=seeds,
                       sizes=sizes, ablation_base=ablation_base,
                       wall_time=wall), f, indent=1)
    print('\n' + header + '\n\n' + tables)
    print(f'[bench] table: {osp.abspath(osp.join(work_dir, "results.md"))}')
    print(f'[bench] plot: {osp.abspath(plot)}')
    return dict(stats=stats, runs=runs, teachers=teachers, tables=tables,
                plot=plot, ablation_base=ablation_base, wall_time=wall,
                work_dir=work_dir)
