# Copyright (c) mmkd contributors. All rights reserved.
"""tools/setup_env.sh's choice of mmcv's ops: a CUDA build needs a CUDA
torch (which the set-up never installs) and says so before it installs
anything."""
import os
import os.path as osp
import subprocess

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
