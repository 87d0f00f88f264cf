# Copyright (c) mmkd contributors. All rights reserved.
"""`make bench-dense`: AKD against its base distillers over several seeds,
with paired statistics and an ablation (``tools/bench_dense.py``).

Detection (the toy RetinaNet pair on the synthetic shapes set): the student
alone, PKD, AKD over PKD, CWD and AKD over CWD; segmentation (the toy
PSPNet pair): the student alone, CWD and AKD over CWD; head-level
distillation (task ``crosskd``, the detection pair, set and schedule):
the student alone, PKD, CrossKD and CrossKD + PKD. The data set and the
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
import multiprocessing as mp
import os
import os.path as osp
import time
from typing import Dict, List, Optional, Sequence

from .bench_presets import (ABLATIONS, BENCH_PRESETS, DATA_SEED, run_teachers,
                            teacher_seeds)
from .bench_report import format_tables, label, plot_differences, task_stats
from .pipeline import (configure, data_description, git_head, make_data,
                       train_step)


# ------------------------------------------------------------------- runs
def _job(task: str, kind: str, seed: int, path: str, work_dir: str,
         data_root: str, size: dict, teacher_ckpt: Optional[str],
         loss_options: Optional[dict] = None) -> dict:
    return dict(task=task, kind=kind, seed=seed, path=path, work_dir=work_dir,
                data_root=data_root, size=size, teacher_ckpt=teacher_ckpt,
                loss_options=loss_options)


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
    teacher = job['kind'].startswith('teacher')
    cfg = configure(BENCH_PRESETS[job['task']]['data'], job['path'],
                    job['data_root'], job['work_dir'], job['size'],
                    job['seed'], teacher, job['teacher_ckpt'])
    if job['loss_options']:
        entries = cfg.model.distill
        # a list of entries, or a dict of them by name
        for entry in (entries.values()
                      if isinstance(entries, dict) else entries):
            entry.loss.update(job['loss_options'])
    metric_key = BENCH_PRESETS[job['task']]['metrics'][0][1]
    os.makedirs(osp.dirname(job['work_dir']), exist_ok=True)
    with open(job['work_dir'] + '.log', 'a') as log, \
            contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        result = train_step(
            f'{job["task"]} {job["kind"]} seed {job["seed"]}', cfg, [],
            metric_key,
            data_description(BENCH_PRESETS[job['task']]['data'], job['size'],
                             DATA_SEED), prefix='[bench]',
            keep_checkpoint=teacher)
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
            print(
                f'[bench] run {self.done}/{self.total}: {out["task"]} '
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
        print(
            f'[bench] run {self.done}/{self.total}: {out["task"]} '
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
            'benchmark again to resume): ' +
            ', '.join(f'{o["task"]} {o["kind"]} seed {o["seed"]}'
                      for o in failed))
    return results


def _choose_ablation_base(stats: dict) -> str:
    """The detection AKD row with the largest mean paired AP gain over its
    base, if any gains; else AKD over PKD."""
    gains = {
        kind: diff['metrics']['AP']['mean']
        for kind, diff in stats['det']['pairs'].items()
    }
    best = max(gains, key=gains.get)
    return best if gains[best] > 0 else 'akd-pkd'


def _teacher_kind(name: str) -> str:
    """The run kind of a task's teacher ``name``."""
    return 'teacher' if name == 'teacher' else f'teacher-{name}'


def _teacher_ckpt(task: str, kind: str, teachers: Dict[str, dict]):
    """The checkpoint(s) run ``kind`` learns from: one teacher's, the
    better one's (by the primary metric) or ``{name: checkpoint}`` of all
    (a several-teacher config)."""
    which = run_teachers(task, kind)
    if which == 'all':
        return {name: res['checkpoint'] for name, res in teachers.items()}
    if which == 'best':
        key = BENCH_PRESETS[task]['metrics'][0][1]
        which = max(teachers, key=lambda n: teachers[n]['metrics'][key])
    return teachers[which]['checkpoint']


# ------------------------------------------------------------------- main
def run_bench(work_dir: str = osp.join('work_dirs', 'bench_dense'),
              data_root: str = osp.join('data', 'bench_dense'),
              quick: bool = False, seeds: Optional[Dict[str, int]] = None,
              tasks: Sequence[str] = ('det', 'seg'), ablation: bool = True,
              workers: int = 1) -> dict:
    """Run (or resume) the benchmark; returns the statistics, the markdown
    tables and the output files (``results.md``, ``results.json``,
    ``paired_differences.png`` in ``work_dir``)."""
    start = time.time()
    seeds = {t: (seeds or {}).get(t, BENCH_PRESETS[t]['seeds']) for t in tasks}
    sizes = {t: BENCH_PRESETS[t]['quick' if quick else 'full'] for t in tasks}
    roots = {t: osp.join(osp.abspath(data_root), t, '') for t in tasks}
    for t in tasks:
        print(f'[bench] {t}: synthetic set -> {roots[t]}')
        make_data(BENCH_PRESETS[t]['data'], roots[t], sizes[t], DATA_SEED)

    def jobs_for(task, kinds, task_teachers, options=None):
        preset = BENCH_PRESETS[task]
        for kind in kinds:
            akd, _, variant = kind.partition(':')
            for seed in range(seeds[task]):
                name = kind.replace(':', '_').replace('=', '')
                yield _job(
                    task, kind, seed, preset['runs'][akd][1],
                    osp.join(work_dir, task, name, f'seed{seed}'), roots[task],
                    sizes[task], None if kind == 'student' else _teacher_ckpt(
                        task, akd, task_teachers), options
                    and options[variant])

    main_kinds = {t: list(BENCH_PRESETS[t]['runs']) for t in tasks}
    num_ablation = len(ABLATIONS) * seeds['det'] \
        if ablation and 'det' in tasks else 0
    total = sum(len(teacher_seeds(t)) for t in tasks) + sum(
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
            _job(t, _teacher_kind(name), seed, BENCH_PRESETS[t]['teacher'],
                 osp.join(work_dir, t, _teacher_kind(name)), roots[t],
                 sizes[t], None) for t in tasks
            for name, seed in teacher_seeds(t).items()
        ]
        teachers = {t: {} for t in tasks}
        for o in _run_all(teacher_jobs, pool, progress):
            name = o['kind'][len('teacher-'):] or 'teacher'
            teachers[o['task']][name] = o['result']
        teachers = {  # in the presets' order
            t: {
                name: teachers[t][name]
                for name in teacher_seeds(t)
            }
            for t in tasks
        }
        jobs = [
            j for t in tasks for j in jobs_for(t, main_kinds[t], teachers[t])
        ]
        outs = _run_all(jobs, pool, progress)
        runs = {t: {} for t in tasks}
        for o in outs:
            runs[o['task']].setdefault(o['kind'], {})[o['seed']] = o['result']
        runs = {t: {k: runs[t][k] for k in main_kinds[t]} for t in tasks}
        stats = {t: task_stats(t, runs[t], range(seeds[t])) for t in tasks}
        ablation_base = None
        if num_ablation:
            ablation_base = _choose_ablation_base(stats)
            print(f'[bench] ablation at {label("det", ablation_base)} '
                  '(the detection AKD row with the largest mean AP gain '
                  'over its base, else AKD over PKD)')
            kinds = [f'{ablation_base}:{name}' for name, _ in ABLATIONS]
            outs = _run_all(
                list(jobs_for('det', kinds, teachers['det'], dict(ABLATIONS))),
                pool, progress)
            for o in outs:
                runs['det'].setdefault(o['kind'], {})[o['seed']] = \
                    o['result']
            for kind in kinds:  # ordered as ABLATIONS
                runs['det'][kind] = runs['det'].pop(kind)
            stats['det'] = task_stats('det', runs['det'], range(seeds['det']))
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
    plot = plot_differences(stats, osp.join(work_dir,
                                            'paired_differences.png'))
    codes = sorted({
        r['code'][:12]
        for t in runs.values()
        for by_seed in t.values()
        for r in by_seed.values()
    })
    header = (f'`make bench-dense` ({"quick" if quick else "full"} size, '
              f'{workers} worker(s) x 1 torch thread): wall time '
              f'{wall / 60:.1f} min, {progress.trained} of {total} runs '
              f'trained in this invocation, the rest reused; code '
              f'{git_head()}, mmkd sources {", ".join(codes)}.')
    with open(osp.join(work_dir, 'results.md'), 'w') as f:
        f.write(header + '\n\n' + tables)
    with open(osp.join(work_dir, 'results.json'), 'w') as f:
        json.dump(
            dict(header=header, stats=stats, teachers=teachers, seeds=seeds,
                 sizes=sizes, ablation_base=ablation_base, wall_time=wall), f,
            indent=1)
    print('\n' + header + '\n\n' + tables)
    print(f'[bench] table: {osp.abspath(osp.join(work_dir, "results.md"))}')
    print(f'[bench] plot: {osp.abspath(plot)}')
    return dict(stats=stats, runs=runs, teachers=teachers, tables=tables,
                plot=plot, ablation_base=ablation_base, wall_time=wall,
                work_dir=work_dir)
