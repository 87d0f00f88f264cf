# Copyright (c) mmkd contributors. All rights reserved.
"""``make gpu-check`` (tools/gpu_check.py): its CUDA-free parts. Without a
GPU it says so and exits 0 (1 with --require-gpu); --dry-run prints the
plan on any machine; bad arguments are refused with the fix."""
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
TOOL = osp.join(REPO, 'tools', 'gpu_check.py')


def _run(*args, cuda_visible=''):
    env = dict(__import__('os').environ, CUDA_VISIBLE_DEVICES=cuda_visible)
    return subprocess.run([sys.executable, TOOL, *args], cwd=REPO, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=120)


def test_without_a_gpu_it_says_so_and_exits_0():
    proc = _run()
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.startswith('[gpu-check] skipped: no CUDA device here')
    assert "'GPU machine'" in proc.stdout  # where to read how to set one up


def test_require_gpu_makes_the_skip_a_failure():
    proc = _run('--require-gpu')
    assert proc.returncode == 1
    assert 'skipped: no CUDA device here' in proc.stdout


def test_dry_run_prints_every_part():
    proc = _run('--dry-run', '--iters', '7')
    assert proc.returncode == 0, proc.stdout
    out = proc.stdout
    # the real-size benchmark: both pairs, their sizes, fp32 and AMP
    assert out.count('tools/benchmark_distill.py') == 6
    assert '--img-size 800 1216' in out and '--img-size 512 1024' in out
    assert out.count('--amp fp16') == 3
    assert '--teacher-options' in out and '--iters 7' in out
    assert 'tests/test_cuda.py -m cuda' in out
    assert 'tools/dist_train.sh' in out and ' 1 --work-dir' in out


def test_dry_run_of_some_parts():
    out = _run('--dry-run', '--parts', 'tests').stdout
    assert 'test_cuda.py' in out and 'benchmark' not in out
    assert 'dist_train' not in out


@pytest.mark.parametrize('args,match', [
    (('--parts', 'bench,gpu'), "unknown ['gpu']"),
    (('--parts', ','), 'unknown'),
    (('--iters', '0'), 'must be >= 1'),
])
def test_bad_arguments_are_refused(args, match):
    proc = _run(*args)
    assert proc.returncode == 2
    assert match in proc.stdout


def test_every_config_and_tool_of_the_plan_exists():
    sys.path.insert(0, osp.join(REPO, 'tools'))
    try:
        import gpu_check
    finally:
        sys.path.pop(0)
    args = gpu_check.parse_args([])
    for _, argv, timeout in gpu_check.plan(args):
        assert 0 < timeout <= 300
        for arg in argv:
            if arg.startswith(('configs/', 'tools/', 'tests/')):
                assert osp.exists(osp.join(REPO, arg)), arg
    # the benchmarks' budget: the whole check stays about 5 minutes
    bench = gpu_check.bench_steps(args.iters)
    assert len(bench) == 6


def test_benchmark_refuses_fp16_on_the_cpu():
    proc = subprocess.run([
        sys.executable,
        osp.join(REPO, 'tools', 'benchmark_distill.py'),
        'configs/pkd/pkd_fpn_retinanet_r18-w64_r18-w32_toy-shapes.py', '--amp',
        'fp16'
    ], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=120)
    assert proc.returncode == 2
    assert '--amp fp16 needs --device cuda' in proc.stdout
