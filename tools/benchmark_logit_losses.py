# Copyright (c) mmkd contributors. All rights reserved.
"""Forward + backward time of the logit distillation losses.

Times KD, DKD, RLD and LDRLD (vectorised) at batch 256 with 100 and 1000
classes, and the naive per-sample, per-pair LDRLD
(``ldrld_loss_reference`` in ``tests/ldrld_reference.py``, the tests' own
reference) as the
reference the vectorised one is checked and timed against. Prints a markdown
table of median milliseconds.

Usage::

    python tools/benchmark_logit_losses.py [--repeats 20]
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

os.environ.setdefault('MMKD_SKIP_VERSION_CHECK', '1')
# run from a source checkout without installing mmkd; the naive LDRLD is
# the tests' reference implementation (tests/ldrld_reference.py)
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / 'tests'))

from ldrld_reference import ldrld_loss_reference

from mmkd.models.losses import DKDLoss, KDLoss, LDRLDLoss, RLDLoss


def time_fwd_bwd(fn, student, teacher, labels, repeats: int,
                 warmup: int = 2) -> float:
    """Median ms of ``fn(student, teacher, labels).backward()``."""
    times = []
    for i in range(warmup + repeats):
        zs = student.detach().requires_grad_(True)
        start = time.perf_counter()
        fn(zs, teacher, labels).backward()
        if i >= warmup:
            times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--batch', type=int, default=256)
    parser.add_argument('--classes', type=int, nargs='+', default=[100, 1000])
    parser.add_argument('--repeats', type=int, default=20)
    parser.add_argument('--reference-repeats', type=int, default=3)
    parser.add_argument('--threads', type=int, default=1,
                        help='torch CPU threads (default 1)')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    ldrld = LDRLDLoss()
    losses = [('KD', KDLoss()), ('DKD', DKDLoss()), ('RLD', RLDLoss()),
              ('LDRLD (d=7)', ldrld)]
    reference = (
        'LDRLD naive loop (reference)', lambda zs, zt, y: ldrld_loss_reference(
            zs, zt, ldrld.alpha, ldrld.beta, ldrld.temperature, ldrld.topk))

    gen = torch.Generator().manual_seed(0)
    data = {}
    for c in args.classes:
        data[c] = (torch.randn(args.batch, c, generator=gen) * 3,
                   torch.randn(args.batch, c, generator=gen) * 3,
                   torch.randint(0, c, (args.batch, ), generator=gen))

    rows = {name: {} for name, _ in losses + [reference]}
    for c, (zs, zt, y) in data.items():
        for name, fn in losses:
            rows[name][c] = time_fwd_bwd(fn, zs, zt, y, args.repeats)
        rows[reference[0]][c] = time_fwd_bwd(reference[1], zs, zt, y,
                                             args.reference_repeats, 1)
        fast, slow = ldrld(zs, zt, y), reference[1](zs, zt, y)
        assert torch.allclose(fast, slow, rtol=1e-4, atol=1e-6), \
            f'LDRLD {fast.item()} != reference {slow.item()} at C={c}'

    print(f'Forward + backward, B={args.batch}, CPU, '
          f'{torch.get_num_threads()} thread(s), median ms '
          f'({args.repeats} repeats; {args.reference_repeats} for the '
          'reference). Vectorised LDRLD matches the reference value at '
          'every C.\n')
    header = ' | '.join(f'C={c} (ms)' for c in args.classes)
    print(f'| loss | {header} |')
    print('|---|' + '---:|' * len(args.classes))
    for name, by_c in rows.items():
        cells = ' | '.join(f'{by_c[c]:.2f}' for c in args.classes)
        print(f'| {name} | {cells} |')
    ref = rows[reference[0]]
    fast = rows['LDRLD (d=7)']
    speedups = ', '.join(f'{ref[c] / fast[c]:.0f}x at C={c}'
                         for c in args.classes)
    print(f'\nVectorised LDRLD vs reference: {speedups}.')


if __name__ == '__main__':
    main()
