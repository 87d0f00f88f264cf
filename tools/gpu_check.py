# Copyright (c) mmkd contributors. All rights reserved.
"""``make gpu-check``: what mmkd's users run, on one CUDA GPU, in about five
minutes.

    python tools/gpu_check.py [--parts bench,tests,dist] [--out DIR]
        [--iters N] [--dry-run] [--require-gpu]

1. **bench**: the real-size benchmark (``tools/benchmark_distill.py``,
   random weights and inputs): RetinaNet R101 -> R50 (AKD over CWD) at
   800 x 1216 and PSPNet R101-D8 -> R18-D8 (CWD on the logits) at
   512 x 1024, batch 2, in fp32 and with ``--amp fp16``, plus the teacher
   execution options side by side for RetinaNet (fp32 and AMP);
2. **tests**: the test suite's ``cuda`` tests (``tests/test_cuda.py``: the
   toy AKD/PKD pairs trained on the GPU with and without AMP, resume, the
   teacher options' features against the plain fp32 teacher, cuDNN's TF32
   included, the fp16 loss scaler skipping a non-finite step);
3. **dist**: ``tools/dist_train.sh CONFIG 1`` over NCCL on the toy AKD
   pair (a synthetic shapes set made in ``--out``, the teacher's random
   weights), one epoch.

Each part's output goes to the terminal and to ``DIR/gpu_check.md`` with
the date, the machine and the versions. Without a CUDA device it says so
and exits 0 (``--require-gpu``: exits 1); ``--dry-run`` prints the
commands only, on any machine. Never needed for CI.
"""
import argparse
import datetime
import os
import os.path as osp
import platform
import shlex
import subprocess
import sys
import time
from typing import List, Tuple

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..'))
PARTS = ('bench', 'tests', 'dist')
RETINANET = 'configs/akd/akd-cwd_fpn_retinanet_r101_r50_2x_coco.py'
PSPNET = ('configs/cwd/'
          'cwd_logits_pspnet_r101-d8_r18-d8_4xb2-80k_cityscapes-512x1024.py')
TOY_PAIR = 'configs/akd/akd-pkd_fpn_retinanet_r18-w64_r18-w32_toy-shapes.py'
SKIP_MESSAGE = ('[gpu-check] skipped: no CUDA device here ({why}). It '
                'needs one NVIDIA GPU, a CUDA build of torch and mmcv '
                "compiled with its CUDA ops (README, 'GPU machine').")
Step = Tuple[str, List[str], int]  # (title, argv, timeout seconds)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--parts', default=','.join(PARTS),
                        help=f'comma-separated subset of {",".join(PARTS)}')
    parser.add_argument(
        '--out', default='work_dirs/gpu_check',
        help='folder for the report, the data set and the '
        'runs')
    parser.add_argument('--iters', type=int, default=10,
                        help='timed iterations per benchmark (median)')
    parser.add_argument('--dry-run', action='store_true',
                        help='print the commands, run nothing')
    parser.add_argument('--require-gpu', action='store_true',
                        help='exit 1 (not 0) where there is no CUDA device')
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(',') if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown or not parts:
        parser.error(f'--parts {args.parts!r}: unknown {unknown}; choose '
                     f'from {",".join(PARTS)}')
    if args.iters < 1:
        parser.error(f'--iters {args.iters}: must be >= 1')
    args.parts = [p for p in PARTS if p in parts]
    return args


def bench_steps(iters: int) -> List[Step]:
    tool = [sys.executable, 'tools/benchmark_distill.py']
    common = [
        '--device', 'cuda', '--batch-size', '2', '--iters',
        str(iters), '--warmup', '3'
    ]
    retina = [RETINANET, '--img-size', '800', '1216'] + common
    psp = [PSPNET, '--img-size', '512', '1024'] + common
    return [
        ('RetinaNet R101 -> R50, fp32', tool + retina, 120),
        ('RetinaNet R101 -> R50, AMP fp16', tool + retina + ['--amp', 'fp16'],
         120),
        ('RetinaNet R101 teacher options, fp32',
         tool + retina + ['--teacher-options'], 120),
        ('RetinaNet R101 teacher options, AMP fp16',
         tool + retina + ['--teacher-options', '--amp', 'fp16'], 120),
        ('PSPNet R101-D8 -> R18-D8, fp32', tool + psp, 120),
        ('PSPNet R101-D8 -> R18-D8, AMP fp16', tool + psp + ['--amp', 'fp16'],
         120),
    ]


def test_steps() -> List[Step]:
    return [('the cuda tests', [
        sys.executable, '-m', 'pytest', 'tests/test_cuda.py', '-m', 'cuda',
        '-q', '-p', 'no:cacheprovider', '-rs'
    ], 240)]


def dist_steps(out: str) -> List[Step]:
    data = osp.join(out, 'shapes') + '/'
    options = [
        'model.teacher.checkpoint=None',
        f'train_dataloader.dataset.data_root={data}',
        f'val_dataloader.dataset.data_root={data}',
        f'val_evaluator.ann_file={data}annotations/instances_val.json',
        'train_dataloader.batch_size=4',
        'train_cfg.max_epochs=1',
        'default_hooks.logger.interval=1',
    ]
    return [
        ('the synthetic shapes set', [
            sys.executable, 'tools/misc/make_shapes.py', 'coco', data,
            '--num-train', '16', '--num-val', '8'
        ], 60),
        ('tools/dist_train.sh, 1 GPU, NCCL', [
            'bash', 'tools/dist_train.sh', TOY_PAIR, '1', '--work-dir',
            osp.join(out, 'dist'), '--cfg-options'
        ] + options, 180),
    ]


def plan(args) -> List[Step]:
    steps = []
    if 'bench' in args.parts:
        steps += bench_steps(args.iters)
    if 'tests' in args.parts:
        steps += test_steps()
    if 'dist' in args.parts:
        steps += dist_steps(args.out)
    return steps


def no_gpu_reason() -> str:
    """Why there is no usable CUDA device, or '' when there is one."""
    try:
        import torch
    except ImportError:
        return 'torch is not installed'
    if not torch.version.cuda:
        return f'torch {torch.__version__} is a CPU build'
    if not torch.cuda.is_available():
        return (f'torch {torch.__version__} (CUDA {torch.version.cuda}) '
                'sees no GPU')
    return ''


def machine() -> str:
    import torch
    gpu = torch.cuda.get_device_name(0)
    return (f'{gpu}, {platform.node()}, torch {torch.__version__} (CUDA '
            f'{torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, '
            f'TF32 convolutions '
            f'{"on" if torch.backends.cudnn.allow_tf32 else "off"}), Python '
            f'{platform.python_version()}')


def run_step(title: str, argv: List[str], timeout: int, report) -> bool:
    command = ' '.join(shlex.quote(a) for a in argv)
    header = f'\n## {title}\n\n`{command}`\n'
    print(header, flush=True)
    report.write(header + '\n```\n')
    start = time.time()
    try:
        proc = subprocess.run(argv, cwd=REPO, timeout=timeout,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
        output, code = proc.stdout, proc.returncode
    except subprocess.TimeoutExpired as err:
        output = (err.stdout or b'')
        output = output.decode() if isinstance(output, bytes) else output
        code = f'timeout after {timeout} s'
    # the benchmark tables and the test summary, not the build logs
    lines = output.splitlines()
    keep = [
        ln for ln in lines
        if ln.startswith(('|', 'config:',
                          'device:')) or 'passed' in ln or 'failed' in ln
        or 'SKIPPED' in ln or 'Error' in ln or 'Epoch(train)' in ln
    ]
    text = '\n'.join(keep if keep and code == 0 else lines[-60:])
    footer = f'(exit {code}, {time.time() - start:.0f} s)'
    print(text + '\n' + footer, flush=True)
    report.write(text + '\n```\n' + footer + '\n')
    report.flush()
    return code == 0


def main(argv=None) -> int:
    args = parse_args(argv)
    steps = plan(args)
    if args.dry_run:
        for title, argv_, timeout in steps:
            print(f'# {title} (timeout {timeout} s)\n' +
                  ' '.join(shlex.quote(a) for a in argv_))
        return 0
    why = no_gpu_reason()
    if why:
        print(SKIP_MESSAGE.format(why=why))
        return 1 if args.require_gpu else 0
    out = osp.join(REPO, args.out) if not osp.isabs(args.out) else args.out
    os.makedirs(out, exist_ok=True)
    path = osp.join(out, 'gpu_check.md')
    failed = []
    with open(path, 'w') as report:
        stamp = datetime.datetime.now().strftime('%Y-%m-%d %H:%M')
        head = (f'# mmkd gpu-check, {stamp}\n\nmachine: {machine()}\n'
                f'parts: {", ".join(args.parts)}\n')
        print(head)
        report.write(head)
        for title, argv_, timeout in steps:
            if not run_step(title, argv_, timeout, report):
                failed.append(title)
        tail = ('\nall parts passed'
                if not failed else f'\nFAILED: {", ".join(failed)}')
        print(tail + f'\n[gpu-check] report: {path}')
        report.write(tail + '\n')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
