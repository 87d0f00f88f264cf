# Copyright (c) mmkd contributors. All rights reserved.
"""tools/setup_env.sh's choice of mmcv's ops: a CUDA build needs a CUDA
torch (which the set-up never installs) and says so before it installs
anything."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))


def _setup(**env):
    return subprocess.run(
        ['bash', osp.join(REPO, 'tools', 'setup_env.sh')], cwd=REPO,
        env=dict(os.environ, **env), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, timeout=300)


@pytest.mark.skipif(bool(torch.version.cuda), reason='a CUDA build of torch')
def test_cuda_ops_on_a_cpu_torch_are_refused_before_installing():
    proc = _setup(MMKD_MMCV_OPS='cuda')
    assert proc.returncode == 1, proc.stdout
    assert 'the installed torch is a CPU build' in proc.stdout
    assert 'never installs one' in proc.stdout
    assert 'installing' not in proc.stdout and 'building' not in proc.stdout


def test_unknown_ops_choice_is_refused():
    proc = _setup(MMKD_MMCV_OPS='gpu')
    assert proc.returncode == 2
    assert 'MMKD_MMCV_OPS=gpu: use cpu or cuda' in proc.stdout


def _check_ops(which):
    return subprocess.run([
        sys.executable,
        osp.join(REPO, 'tools', 'misc', 'check_mmcv_ops.py'), which
    ], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=120)


def test_the_ops_check_judges_a_build_without_running_cuda_kernels():
    """The set-up's check of mmcv's ops (tools/misc/check_mmcv_ops.py):
    the CPU ops pass; asked for CUDA ops it reads what mmcv was compiled
    with instead of running a kernel on a GPU that is not there (which
    failed, and the set-up rebuilt mmcv on every run)."""
    from mmcv.ops import get_compiling_cuda_version
    assert _check_ops('cpu').returncode == 0
    proc = _check_ops('cuda')
    if get_compiling_cuda_version() == 'not available':  # this CPU build
        assert proc.returncode == 1, proc.stdout
        assert 'compiled without CUDA kernels' in proc.stdout
    elif not torch.cuda.is_available():  # a CUDA build, no GPU visible
        assert proc.returncode == 0, proc.stdout
        assert 'not run: no GPU is visible' in proc.stdout
    else:
        assert proc.returncode == 0, proc.stdout
    assert _check_ops('gpu').returncode == 2


def test_mim_train_runs_in_this_environment():
    """`make setup` checks openmim by running its command line, so what it
    imports (click, rich, ...) is there in a fresh virtual environment."""
    proc = subprocess.run([
        sys.executable, '-c', 'import sys; from mim.cli import cli; '
        'sys.argv = ["mim", "train", "--help"]; cli()'
    ], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout
    assert 'Usage' in proc.stdout
