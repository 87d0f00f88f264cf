# Copyright (c) mmkd contributors. All rights reserved.
"""`make bench-dense`'s statistics and report: paired differences over the
seeds with Student's t intervals, the markdown tables and the plot."""
import math
from typing import Dict, Sequence

import numpy as np

from .bench_presets import BENCH_PRESETS, pair_bases


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
    d = np.asarray(values, dtype=np.float64) - np.asarray(
        base, dtype=np.float64)
    out = summarize(d)
    n = out['n']
    if n > 1:
        half = _t_quantile((1 + level) / 2, n - 1) * out['std'] / math.sqrt(n)
    else:
        half = float('nan')
    out.update(diffs=d.tolist(), low=out['mean'] - half,
               high=out['mean'] + half, level=level, better=int((d > 0).sum()))
    return out


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
        kind: {
            name: [by_seed[s]['metrics'][key] for s in seeds]
            for name, key in preset['metrics']
        }
        for kind, by_seed in runs.items() if kind != 'teacher'
    }
    out = dict(
        values=values, summary={
            kind: {
                m: summarize(v)
                for m, v in per.items()
            }
            for kind, per in values.items()
        }, pairs={})
    for kind in values:
        bases = pair_bases(task, kind.split(':')[0])
        for base in bases:
            # keyed by the run alone when it has one base
            key = kind if len(bases) == 1 else f'{kind}@{base}'
            out['pairs'][key] = dict(
                kind=kind, base=base, metrics={
                    m: paired_difference(values[kind][m], values[base][m])
                    for m in values[kind]
                })
    return out


def label(task: str, kind: str) -> str:
    """A run's name in the tables (``kind``, or ``kind:variant``)."""
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
        percent = preset['data'] == 'seg'
        n = next(iter(st['summary'].values()))[names[0]]['n']
        lines += [
            f'**{task}** ({n} seeds; mean +- std over the seeds)', '',
            '| run | ' + ' | '.join(names) + ' |',
            '|---|' + '---:|' * len(names)
        ]
        for name, teacher in teachers[task].items():
            who = 'teacher' if name == 'teacher' else f'teacher {name}'
            lines.append(f'| {who} (one run) | ' + ' | '.join(
                _fmt(teacher['metrics'][k], percent)
                for _, k in preset['metrics']) + ' |')
        for kind, per in st['summary'].items():
            lines.append(f'| {label(task, kind)} | ' +
                         ' | '.join(f'{_fmt(per[m]["mean"], percent)} +- '
                                    f'{_fmt(per[m]["std"], percent)}'
                                    for m in names) + ' |')
        lines += [
            '', f'Paired difference to the base, same seed: mean '
            '[95% CI, Student\'s t over the seeds]; "better" counts '
            f'the seeds where it is > 0 ({names[0]}).', '',
            '| run - base | ' + ' | '.join(f'd{m}'
                                           for m in names) + ' | better |',
            '|---|' + '---:|' * (len(names) + 1)
        ]
        for pair in st['pairs'].values():
            base = label(task, pair['base'])
            diffs = pair['metrics']
            lines.append(
                f'| {label(task, pair["kind"])} - {base} | ' +
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
            ax.errorbar(
                x + 0.3, diff['mean'], yerr=[[diff['mean'] - diff['low']],
                                             [diff['high'] - diff['mean']]],
                fmt='s', color='black', capsize=4,
                label='mean, 95% CI' if x == 0 else None)
        ax.axhline(0, color='gray', lw=0.8)
        ax.set_xticks(range(len(pairs)))
        ax.set_xticklabels([
            f'{label(task, p["kind"])} - {label(task, p["base"])}'.replace(
                ', ', '\n') for p in pairs.values()
        ], rotation=60, ha='right', fontsize=8)
        ax.set_ylabel(f'{metric}: run - base (same seed)')
        ax.set_title(task)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
