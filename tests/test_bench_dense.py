# Copyright (c) mmkd contributors. All rights reserved.
"""`make bench-dense` at a minimal size (2 seeds, a few iterations): it runs
end to end through the demo's pieces, and its statistics are those an
independent computation (numpy, scipy) gives on the numbers it produced."""
import json
import os.path as osp

import numpy as np
import pytest
from scipy import stats

from demo import bench_dense, bench_report
from demo.bench_dense import ABLATIONS, BENCH_PRESETS, run_bench
from demo.bench_presets import pair_bases


def _check_against_scipy(out: dict, task: str, seeds: int) -> None:
    preset = BENCH_PRESETS[task]
    runs = out['runs'][task]
    st = out['stats'][task]
    for kind, per_metric in st['summary'].items():
        for name, key in preset['metrics']:
            # the numbers the runs produced, read back from their results
            x = np.array([runs[kind][s]['metrics'][key] for s in range(seeds)])
            assert per_metric[name]['n'] == seeds
            assert per_metric[name]['mean'] == pytest.approx(np.mean(x))
            assert per_metric[name]['std'] == pytest.approx(
                np.sqrt(np.sum((x - x.mean())**2) / (seeds - 1)))
    compared = {(p['kind'], p['base']) for p in st['pairs'].values()}
    assert compared >= {(kind, base)
                        for kind in preset['pairs']
                        for base in pair_bases(task, kind)}
    for pair in st['pairs'].values():
        kind, base = pair['kind'], pair['base']
        assert base in pair_bases(task, kind.split(':')[0])
        for name, key in preset['metrics']:
            a = np.array([runs[kind][s]['metrics'][key] for s in range(seeds)])
            b = np.array([runs[base][s]['metrics'][key] for s in range(seeds)])
            diff = pair['metrics'][name]
            np.testing.assert_allclose(diff['diffs'], a - b)
            assert diff['mean'] == pytest.approx(np.mean(a - b))
            assert diff['better'] == int(np.sum(a > b))
            # the paired t interval, as scipy's paired t-test gives it
            if np.ptp(a - b) > 0:
                ci = stats.ttest_rel(a, b).confidence_interval(0.95)
                assert diff['low'] == pytest.approx(ci.low)
                assert diff['high'] == pytest.approx(ci.high)
            else:  # no spread: a zero-width interval
                assert diff['low'] == pytest.approx(diff['high'])


def test_paired_difference_matches_scipy():
    rng = np.random.default_rng(3)
    for n in (2, 3, 5, 10):
        a, b = rng.normal(size=n), rng.normal(size=n)
        out = bench_report.paired_difference(a, b)
        ci = stats.ttest_rel(a, b).confidence_interval(0.95)
        assert (out['low'], out['high']) == pytest.approx((ci.low, ci.high))
        assert out['std'] == pytest.approx(np.std(a - b, ddof=1))
    single = bench_report.paired_difference([1.], [0.5])
    assert single['mean'] == 0.5 and np.isnan(single['low'])


@pytest.mark.e2e
def test_bench_dense_minimal_end_to_end(tmp_path, monkeypatch, capsys):
    # one ablation variant keeps the test short; the full list is ablated
    # by `make bench-dense`
    monkeypatch.setattr(bench_dense, 'ABLATIONS', ABLATIONS[:1])
    work_dir = str(tmp_path / 'bench')
    # (the crosskd task is a det-like preset of other configs: its configs
    # train in test_crosskd_launch.py)
    tasks = ('det', 'seg', 'teachers')
    seeds = dict(det=2, seg=2, teachers=2)
    out = run_bench(work_dir=work_dir, data_root=str(tmp_path / 'data'),
                    quick=True, seeds=seeds, tasks=tasks, workers=1)
    printed = capsys.readouterr().out
    assert '[bench] run 1/' in printed and 'eta' in printed
    # every run type of both tasks, the ablation at the chosen base
    assert out['ablation_base'] in ('akd-pkd', 'akd-cwd')
    variant = f'{out["ablation_base"]}:{ABLATIONS[0][0]}'
    assert list(
        out['runs']['det']) == list(BENCH_PRESETS['det']['runs']) + [variant]
    for task in ('seg', 'teachers'):
        assert list(out['runs'][task]) == list(BENCH_PRESETS[task]['runs'])
    # two teachers of two seeds; AKD learnt from the better one
    teachers = out['teachers']['teachers']
    assert list(teachers) == ['a', 'b']
    assert teachers['a']['checkpoint'] != teachers['b']['checkpoint']
    for task in tasks:
        _check_against_scipy(out, task, 2)
    # the table, the plot and the numbers are written
    assert out['tables'] in open(osp.join(work_dir, 'results.md')).read()
    assert out['tables'] in printed
    assert 'AKD over PKD - PKD' in out['tables']
    assert 'AKD over CWD - CWD' in out['tables']
    assert 'teacher b (one run)' in out['tables']
    for base in ('PKD from teacher a', 'PKD from teacher b',
                 'AKD over PKD from the better teacher'):
        assert f'PKD from the mean of a and b - {base}' in out['tables']
        assert (f'PKD from the uncertainty ensemble of a and b - {base}'
                in out['tables'])
    assert osp.getsize(out['plot']) > 1000
    saved = json.load(open(osp.join(work_dir, 'results.json')))
    assert saved['stats']['det']['pairs'][variant]['metrics']['AP'][
        'diffs'] == out['stats']['det']['pairs'][variant]['metrics']['AP'][
            'diffs']
    # a second invocation reuses every finished run and gives the same
    # statistics
    again = run_bench(work_dir=work_dir, data_root=str(tmp_path / 'data'),
                      quick=True, seeds=seeds, tasks=tasks, workers=1)
    assert all(res['reused'] for task in again['runs'].values()
               for by_seed in task.values() for res in by_seed.values())
    assert all(t['reused'] for task in again['teachers'].values()
               for t in task.values())
    assert 'finished before' not in capsys.readouterr().out  # in the logs
    assert again['stats'] == out['stats']
