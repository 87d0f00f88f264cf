# Copyright (c) mmkd contributors. All rights reserved.
"""tools/dist_train.sh with 2 processes on the CPU (torchrun, gloo): the toy
LSH RetinaNet config trains a few iterations through the real Runner; each
rank dumps what is compared here (tests/dist_probe.py)."""
import glob
import os.path as osp
import re
import socket

import pytest
import torch
from launch_utils import (DET_TEACHER, LSH_DET, cli, det_options,
                          fresh_teacher_ckpt, repo_path, run)

from mmkd.engine import DISTILL_STATE_KEY, safe_torch_load

# end-to-end runs: `make test-e2e` (tests/conftest.py)
pytestmark = pytest.mark.e2e

TESTS_DIR = osp.dirname(osp.abspath(__file__))
NUM_TRAIN = 8  # the coco_shapes_root fixture
BATCH = 2  # per rank: 2 iterations each


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _dist_train(config: str, work_dir: str, options: dict, cwd: str,
                expect_failure: bool = False) -> str:
    cmd = [
        'bash',
        repo_path('tools/dist_train.sh'), config, '2', '--work-dir', work_dir,
        '--cfg-options'
    ] + cli(options)
    env = dict(
        PORT=str(_free_port()), PYTHONPATH=TESTS_DIR, CUDA_VISIBLE_DEVICES='')
    if not expect_failure:
        return run(cmd, cwd, env=env)
    with pytest.raises(AssertionError) as err:
        # the whole output: each rank's traceback is in it somewhere
        run(cmd, cwd, env=env, keep=None)
    return str(err.value)


@pytest.fixture(scope='module')
def teacher(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('lsh_teacher') / 'teacher.pth')
    return fresh_teacher_ckpt(DET_TEACHER, path)


@pytest.fixture(scope='module')
def dist_run(tmp_path_factory, coco_shapes_root, teacher):
    root = tmp_path_factory.mktemp('dist')
    # the LSH config as it is, plus the probe hook
    config = root / 'lsh_probe.py'
    config.write_text(
        f'_base_ = [{repo_path(LSH_DET)!r}]\n'
        "custom_imports = dict(imports=['mmkd', 'dist_probe'], "
        'allow_failed_imports=False)\n'
        "custom_hooks = _base_.custom_hooks + [dict(type='DistProbeHook')]\n")
    work_dir = str(root / 'work')
    options = det_options(coco_shapes_root, teacher, batch_size=BATCH)
    output = _dist_train(str(config), work_dir, options, str(root))
    probes = [
        torch.load(
            osp.join(work_dir, f'probe_rank{r}.pth'), weights_only=False)
        for r in range(2)
    ]
    return dict(output=output, work_dir=work_dir, probes=probes,
                options=options)


def test_both_ranks_finish_on_shards_of_the_data(dist_run):
    first, second = dist_run['probes']
    assert [p['rank'] for p in (first, second)] == [0, 1]
    assert first['world_size'] == second['world_size'] == 2
    # the sampler shards the data: disjoint halves covering the set
    assert len(first['img_ids']) == len(second['img_ids']) == NUM_TRAIN // 2
    assert not set(first['img_ids']) & set(second['img_ids'])
    assert len(set(first['img_ids']) | set(second['img_ids'])) == NUM_TRAIN


def test_ddp_on_cpu_without_device_ids(dist_run):
    for probe in dist_run['probes']:
        assert probe['wrapper'] == 'MMKDDistributedDataParallel'
        assert probe['device_ids'] is None
        # a distiller: the weight schedule may switch distillation off
        assert probe['find_unused_parameters'] is True
        # the connector is in DDP's module, with grad: DDP reduces it
        connector = [
            n for n in probe['ddp_params'] if n.startswith('distill_entries.')
        ]
        assert connector, 'no distillation parameter reaches DDP'
        assert all('teacher' not in n for n in probe['ddp_params'])


def test_rank0_writes_one_plain_checkpoint(dist_run):
    work_dir = dist_run['work_dir']
    assert sorted(
        osp.basename(p) for p in glob.glob(osp.join(work_dir, '*.pth'))
        if 'probe' not in p) == ['epoch_1.pth']
    ckpt = safe_torch_load(osp.join(work_dir, 'epoch_1.pth'))
    state = dist_run['probes'][0]['state']
    plain = {k for k in state if not k.startswith('distill_entries.')}
    assert set(ckpt['state_dict']) == plain
    assert set(ckpt[DISTILL_STATE_KEY]) == set(state) - plain
    for key in plain:
        torch.testing.assert_close(ckpt['state_dict'][key], state[key], rtol=0,
                                   atol=0, msg=key)


def test_student_and_connectors_identical_on_both_ranks(dist_run):
    first, second = dist_run['probes']
    assert first['params'].keys() == second['params'].keys()
    for name, value in first['params'].items():
        torch.testing.assert_close(second['params'][name], value, rtol=0,
                                   atol=0, msg=name)
    # and they trained: the connector moved from its initial weights
    before = first['distill_before']
    moved = [
        k for k, v in before.items()
        if v.is_floating_point() and k.endswith('weight')
        and not torch.equal(v, first['state'][f'distill_entries.{k}'])
    ]
    assert moved


def _reference_biases(options: dict, work_dir: str, max_batches=None):
    """The LSH losses' median biases computed in this one process (one
    rank) over the same training batches."""
    from mmengine.runner import Runner

    from mmkd.engine.hooks import LSHMedianBiasHook
    from mmkd.models.losses import LSHLoss
    from mmkd.utils import load_config
    cfg = load_config(repo_path(LSH_DET), dict(options))
    cfg.work_dir = work_dir
    cfg.launcher = 'none'
    runner = Runner.from_cfg(cfg)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the torchrun processes
    try:
        kwargs = {} if max_batches is None else dict(max_batches=max_batches)
        LSHMedianBiasHook(**kwargs).before_train(runner)
    finally:
        torch.set_num_threads(threads)
    return {
        n: m.proj_bias.clone()
        for n, m in runner.model.named_modules() if isinstance(m, LSHLoss)
    }


def test_lsh_bias_is_the_median_over_all_ranks_batches(dist_run, tmp_path):
    first, second = dist_run['probes']
    assert first['lsh'].keys() == second['lsh'].keys() and first['lsh']
    for name in first['lsh']:
        for key in ('proj_weight', 'proj_bias'):
            torch.testing.assert_close(first['lsh'][name][key],
                                       second['lsh'][name][key], rtol=0,
                                       atol=0)
    # one process over all NUM_TRAIN // BATCH batches = the union of the
    # ranks' batches (each rank ran the teacher on half of them)
    union = _reference_biases(dist_run['options'], str(tmp_path / 'one'))
    half = _reference_biases(dist_run['options'], str(tmp_path / 'half'),
                             max_batches=NUM_TRAIN // BATCH // 2)
    for name, bias in union.items():
        got = first['lsh'][name]['proj_bias']
        torch.testing.assert_close(got, bias, rtol=1e-5, atol=1e-5)
        # (the median over half of the batches differs: the test can fail)
        assert not torch.allclose(half[name], bias, rtol=1e-5, atol=1e-5)


def test_avatars_decorrelated_across_ranks(dist_run):
    from mmkd.models.losses import AvatarLoss
    first, second = dist_run['probes']
    single = AvatarLoss(
        base=dict(type='mmkd.CWDLoss', tau=1.0), num_avatars=2,
        seed=0).make_avatars(torch.ones(1, 4, 3, 3))
    # rank 0 draws the single-process stream, rank 1 its own
    torch.testing.assert_close(first['avatars'], single, rtol=0, atol=0)
    assert not torch.equal(first['avatars'], second['avatars'])


def test_a_check_failing_on_one_rank_fails_on_every_rank(dist_run):
    for probe in dist_run['probes']:
        assert probe['failure'] == 'only rank 1 sees this problem'


def test_rows_gathered_from_ranks_with_and_without_rows(dist_run):
    for probe in dist_run['probes']:
        assert torch.equal(probe['gathered'], torch.arange(6.).view(2, 3))


def test_bad_config_stops_both_ranks_with_one_message(tmp_path,
                                                      coco_shapes_root,
                                                      teacher):
    # no connector: 64-channel student features against a loss for 128 (a
    # config of its own: --cfg-options cannot name the entry, whose name has
    # dots)
    config = tmp_path / 'lsh_no_connector.py'
    config.write_text(
        f'_base_ = [{repo_path(LSH_DET)!r}]\n'
        "model = dict(distill={'bbox_head.cls_convs.1-bbox_head.cls_convs.2':"
        ' dict(connector=None)})\n')
    options = det_options(coco_shapes_root, teacher, batch_size=BATCH)
    output = _dist_train(
        str(config), str(tmp_path / 'work'), options, str(tmp_path),
        expect_failure=True)
    # torchrun prefixes each process's lines with [rank<r>]:
    errors = dict(
        re.findall(r'^\[rank(\d)\]: (ValueError: .*)$', output, re.M))
    assert sorted(errors) == ['0', '1'], output[-3000:]
    assert errors['0'] == errors['1']
    assert ("Align them in the distill entry: connector=dict(type='mmkd."
            "ConvConnector', in_channels=64, out_channels=128)") in errors['0']
    assert not glob.glob(str(tmp_path / 'work' / '*.pth'))


def test_non_finite_loss_on_one_rank_stops_both_ranks(tmp_path,
                                                      coco_shapes_root,
                                                      teacher):
    """Rank 1's distillation loss becomes NaN in the second iteration:
    both processes exit non-zero with the same message, soon after (none
    waits in the next gradient all-reduce), and no checkpoint is written
    after the bad step."""
    import time
    config = tmp_path / 'lsh_nan.py'
    config.write_text(
        f'_base_ = [{repo_path(LSH_DET)!r}]\n'
        "custom_imports = dict(imports=['mmkd', 'dist_probe'], "
        'allow_failed_imports=False)\n'
        "custom_hooks = _base_.custom_hooks + [dict(type='NaNOnRankHook')]\n")
    work_dir = tmp_path / 'work'
    options = det_options(coco_shapes_root, teacher, batch_size=BATCH)
    output = _dist_train(
        str(config), str(work_dir), options, str(tmp_path),
        expect_failure=True)
    ended = time.time()
    errors = dict(
        re.findall(r'^\[rank(\d)\]: (FloatingPointError: .*)$', output, re.M))
    assert sorted(errors) == ['0', '1'], output[-3000:]
    assert errors['0'] == errors['1']
    assert 'non-finite distillation loss at iteration 2: rank 1: ' \
        'distill.' in errors['0']
    assert 'rank 0:' not in errors['0']  # rank 0's own loss was finite
    injected = float((work_dir / 'nan_injected.txt').read_text())
    assert ended - injected < 60
    assert not glob.glob(str(work_dir / '*.pth'))
