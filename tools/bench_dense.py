# Copyright (c) mmkd contributors. All rights reserved.
"""Multi-seed dense benchmark: AKD against its base distillers, CrossKD
against the student and PKD, several teachers against one and against
AKD's avatars, with paired statistics and an ablation
(`make bench-dense`; see demo/bench_dense.py).

    python tools/bench_dense.py     # full: 5 det, 3 seg, 5 crosskd, 5 teachers
    python tools/bench_dense.py --quick --det-seeds 2 --seg-seeds 2
    python tools/bench_dense.py --tasks crosskd  # head-level rows only
    python tools/bench_dense.py --tasks teachers  # several teachers

Writes ``results.md`` (the tables), ``results.json`` (every number) and
``paired_differences.png`` to ``--work-dir``; finished runs are reused, so
an interrupted benchmark resumes where it stopped.
"""
import argparse
import os
import os.path as osp
import sys

# the repository root first: its demo/ package
sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))

from demo.bench_dense import BENCH_PRESETS, run_bench


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default=osp.join('work_dirs',
                                                       'bench_dense'))
    parser.add_argument('--data-root', default=osp.join('data', 'bench_dense'))
    parser.add_argument('--quick', action='store_true',
                        help='minimal sizes (a smoke test of the pipeline)')
    parser.add_argument('--det-seeds', type=int,
                        default=BENCH_PRESETS['det']['seeds'])
    parser.add_argument('--seg-seeds', type=int,
                        default=BENCH_PRESETS['seg']['seeds'])
    parser.add_argument(
        '--seeds', type=int, default=None,
        help='seeds of every other task (default: its preset\'s, ' +
        ', '.join(f'{t}: {p["seeds"]}'
                  for t, p in sorted(BENCH_PRESETS.items())
                  if t not in ('det', 'seg')) + ')')
    parser.add_argument('--tasks', nargs='+', default=sorted(BENCH_PRESETS),
                        choices=sorted(BENCH_PRESETS))
    parser.add_argument('--no-ablation', action='store_true')
    parser.add_argument('--workers', type=int,
                        default=min(2,
                                    os.cpu_count() or 1),
                        help='parallel runs (one torch thread each)')
    args = parser.parse_args(argv)
    for name in ('det_seeds', 'seg_seeds', 'seeds', 'workers'):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1')
    return args


def main(argv=None):
    args = parse_args(argv)
    run_bench(
        work_dir=args.work_dir, data_root=args.data_root, quick=args.quick,
        seeds=dict(
            {
                t: args.seeds or p['seeds']
                for t, p in BENCH_PRESETS.items()
            }, det=args.det_seeds, seg=args.seg_seeds), tasks=args.tasks,
        ablation=not args.no_ablation, workers=args.workers)


if __name__ == '__main__':
    main()
