# Copyright (c) mmkd contributors. All rights reserved.
"""NonFiniteLossHook in real runs: mmkd.DistillRunner (mmengine's Runner,
with the hooks every distillation run gets) on a tiny KD distillation of
two mmkd.ImageClassifier (MnistConvNet) over random 28 x 28 images. A
forward hook on the teacher's logits makes them +inf at chosen iterations:
the forward's distillation loss is NaN there (a teacher feature that
overflows), the next iteration is finite again.

The fp16 runs use mmengine's ``AmpOptimWrapper`` with torch's real dynamic
``GradScaler`` on the CPU (:class:`LossScaledCPUOptimWrapper`); the
several-process run starts 2 processes on gloo (torch.multiprocessing)."""
import os
import socket
import uuid
from contextlib import closing

import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp
from mmengine.hooks import Hook
from mmengine.optim import AmpOptimWrapper, OptimWrapper

from mmkd.engine import DistillRunner
from mmkd.engine.optimizers import CPUAmpOptimWrapper
from mmkd.registry import MODELS
from mmkd.structures import ClsDataSample

BATCH = 2
INIT_SCALE = 2.**16
PREPROCESSOR = dict(type='ImgDataPreprocessor', mean=[33.3], std=[78.6])


class LossScaledCPUOptimWrapper(AmpOptimWrapper):
    """mmengine's ``AmpOptimWrapper`` as an fp16 GPU run has it (its
    ``backward``, ``step`` and ``update_params`` through a real, enabled,
    dynamic ``torch.amp.GradScaler``) on the CPU, where its constructor
    refuses a machine without an accelerator. The forward stays in fp32
    (mmengine's CPU autocast is bf16 only): the loss scaling is what the
    hook deals with."""

    def __init__(self, init_scale: float = INIT_SCALE, **kwargs) -> None:
        OptimWrapper.__init__(self, **kwargs)
        self._scale_update_param = None
        self.loss_scaler = torch.amp.GradScaler('cpu', init_scale=init_scale)
        self.cast_dtype = None

    optim_context = OptimWrapper.optim_context  # fp32 forward


class TeacherInfAt:
    """Forward hook of the teacher's logits: +inf logits at the 0-based
    iterations where ``bad(iteration)`` holds (the distillation loss
    becomes NaN)."""

    def __init__(self, runner, bad) -> None:
        self.runner, self.bad = runner, bad

    def __call__(self, module, args, output):
        if self.runner.iter > 0 and self.bad(self.runner.iter):
            return torch.full_like(output, float('inf'))
        return output


class Watch(Hook):
    """Records the loss scale after each iteration (after every other
    hook), and the student's weights around iteration ``at``."""
    priority = 'LOWEST'

    def __init__(self, at: int = -1) -> None:
        self.at, self.scales, self.weights = at, [], {}

    def _weights(self, runner):
        model = getattr(runner.model, 'module', runner.model)
        return {
            k: v.detach().clone()
            for k, v in model.student.named_parameters()
        }

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter == self.at:
            self.weights['before'] = self._weights(runner)

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter == self.at:
            self.weights['after'] = self._weights(runner)
        scaler = getattr(runner.optim_wrapper, 'loss_scaler', None)
        if scaler is not None:
            self.scales.append(scaler.get_scale())


def _classifier(channels, hidden):
    return dict(
        type='mmkd.ImageClassifier',
        backbone=dict(type='mmkd.MnistConvNet', channels=channels,
                      hidden=hidden),
        head=dict(type='mmkd.LinearClsHead', num_classes=10,
                  in_channels=hidden), data_preprocessor=PREPROCESSOR)


def _data(num: int = 8):
    gen = torch.Generator().manual_seed(0)
    return [
        dict(
            inputs=torch.randint(0, 256, (1, 28, 28), dtype=torch.uint8,
                                 generator=gen),
            data_samples=ClsDataSample().set_gt_label(i % 10))
        for i in range(num)
    ]


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    """A model this small runs fastest on one thread (and the machine's 2
    cores are shared)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def teacher_ckpt(tmp_path_factory):
    torch.manual_seed(0)
    teacher = MODELS.build(_classifier((4, 8), 16))
    path = tmp_path_factory.mktemp('tiny_teacher') / 'teacher.pth'
    torch.save(dict(state_dict=teacher.state_dict()), path)
    return str(path)


def _runner(work_dir, teacher_ckpt, optim_wrapper, max_iters, bad=None,
            watch_at=-1, launcher='none'):
    """A tiny KD run; ``bad(iteration)`` picks the iterations whose
    teacher logits are +inf. NonFiniteLossHook comes with the runner
    (mmkd's hooks of every distillation run), with its defaults."""
    teacher = dict(model=_classifier((4, 8), 16), checkpoint=teacher_ckpt)
    kd = dict(type='mmkd.KDLoss', temperature=4.0)
    distiller = dict(
        type='mmkd.SingleTeacherDistiller', student=_classifier((2, 4), 8),
        teacher=teacher, distill=dict(
            logits=dict(student='head.fc', teacher='head.fc', loss=kd)))
    runner = DistillRunner(
        model=distiller,
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=_data(),
            # (a DefaultSampler would make mmengine sleep 2 s per epoch)
            sampler=dict(type='InfiniteSampler', shuffle=False),
            collate_fn=dict(type='pseudo_collate'),
            batch_size=BATCH,
            num_workers=0),
        optim_wrapper=dict(optim_wrapper, optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(checkpoint=None,
                           logger=dict(type='LoggerHook', interval=10000)),
        launcher=launcher,
        randomness=dict(seed=0),
        log_level='WARNING',
        experiment_name=f'non_finite_{uuid.uuid4().hex}',
        default_scope='mmkd')
    watch = Watch(watch_at)
    runner.register_hook(watch)
    if bad is not None:
        model = getattr(runner.model, 'module', runner.model)  # DDP
        # before the recorder's hook, which records (and ends) the forward
        model.teacher.head.fc.register_forward_hook(
            TeacherInfAt(runner, bad), prepend=True)
    return runner, watch


def _hook(runner):
    return [
        h for h in runner.hooks if type(h).__name__ == 'NonFiniteLossHook'
    ][0]


FP16 = dict(type=LossScaledCPUOptimWrapper)


def test_fp16_rare_non_finite_forward_keeps_the_scale(tmp_path, teacher_ckpt):
    """One forward loss in 40 is NaN over 400 iterations: each such step is
    skipped (no weight moves) with the scale kept, and the run goes on."""
    runner, watch = _runner(tmp_path, teacher_ckpt, FP16, max_iters=400,
                            bad=lambda it: it % 40 == 39, watch_at=79)
    runner.train()
    assert runner.iter == 400
    scales = torch.tensor(watch.scales)
    assert len(scales) == 400
    # the brief's bound; the tiny model never overflows at 2^16, so the
    # scale does not move at all
    assert INIT_SCALE / 2**4 <= scales.min() <= scales.max() \
        <= INIT_SCALE * 2**4
    assert (scales == INIT_SCALE).all(), scales.unique()
    for name, value in watch.weights['before'].items():  # skipped step
        assert torch.equal(watch.weights['after'][name], value), name
    model = runner.model
    assert all(torch.isfinite(p).all() for p in model.student.parameters())
    hook = _hook(runner)
    assert hook.skips_steps
    assert list(hook.skipped) == [320, 360, 400]  # the last 100 iterations


def test_fp16_frequent_non_finite_forward_stops(tmp_path, teacher_ckpt):
    """One forward loss in 3 is NaN: the run stops at the 10th skip within
    the window of 100 iterations (iteration 30), with the message."""
    runner, watch = _runner(tmp_path, teacher_ckpt, FP16, max_iters=400,
                            bad=lambda it: it % 3 == 2)
    with pytest.raises(FloatingPointError) as err:
        runner.train()
    message = str(err.value)
    assert message.startswith(
        'non-finite distillation loss at iteration 30 (10 of the last 100 '
        'iterations had a non-finite forward loss, each skipped by the fp16 '
        "loss scaler: not an overflow loss scaling can fix; teacher_exec="
        "dict(precision='fp32') keeps the teacher in fp32): rank 0: "
        'distill.logits.loss = nan.'), message
    assert runner.iter == 29
    assert set(watch.scales) == {INIT_SCALE}  # kept until the stop


def test_fp16_accumulated_gradients_keep_the_scale(tmp_path, teacher_ckpt):
    """Gradients accumulated over 2 iterations: the NaN forward of
    iteration 5 makes the scaler skip the window's step in iteration 6;
    the scale is put back after that step."""
    runner, watch = _runner(tmp_path, teacher_ckpt,
                            dict(FP16, accumulative_counts=2), max_iters=10,
                            bad=lambda it: it == 4)
    runner.train()
    assert watch.scales == [INIT_SCALE] * 10
    assert list(_hook(runner).skipped) == [5]


def test_fp16_scaler_overflow_stays_the_scalers(tmp_path, teacher_ckpt):
    """A finite loss whose scaled gradients overflow (a start scale of
    2^127): the scaler backs off as it always does, the hook counts
    nothing."""
    runner, watch = _runner(tmp_path, teacher_ckpt,
                            dict(FP16, init_scale=2.**127), max_iters=12)
    runner.train()
    assert runner.iter == 12
    assert watch.scales[0] == 2.**126  # the first step overflowed
    assert max(watch.scales) <= 2.**126  # and no back-off was undone
    assert not _hook(runner).skipped


@pytest.mark.parametrize('wrapper', [OptimWrapper, CPUAmpOptimWrapper],
                         ids=['fp32', 'bf16'])
def test_first_non_finite_loss_stops_fp32_and_bf16(tmp_path, teacher_ckpt,
                                                   wrapper):
    runner, _ = _runner(tmp_path, teacher_ckpt, dict(type=wrapper),
                        max_iters=10, bad=lambda it: it == 3)
    assert not _hook(runner).skips_steps
    with pytest.raises(
            FloatingPointError,
            match=r'^non-finite distillation loss at iteration 4: '
            r'rank 0: distill\.logits\.loss = nan\. Lower'):
        runner.train()
    assert runner.iter == 3


def test_window_arguments_are_checked():
    from mmkd.engine.hooks import NonFiniteLossHook
    with pytest.raises(ValueError, match='max_skips=0 must be an int >= 1'):
        NonFiniteLossHook(max_skips=0)
    with pytest.raises(ValueError, match='max_skips=20 is more than '
                       'window=10'):
        NonFiniteLossHook(max_skips=20, window=10)


# ------------------------------------------------------- two processes
class VerdictProbe(Hook):
    """Runs before NonFiniteLossHook after each iteration: records whether
    the hook's all-reduce of the verdict was already started (in the
    forward) by then."""
    priority = 'HIGH'

    def __init__(self) -> None:
        self.started = []

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.started.append(
            getattr(_hook(runner), '_verdict', None) is not None)


def _free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _process_groups() -> int:
    """How many process groups this process has (torch keeps no public
    count)."""
    return len(torch_dist.distributed_c10d._world.pg_map)


def _two_process_worker(rank, port, work_dir, teacher_ckpt, out_dir):
    """One rank: an fp16 run, then an fp32 run, each with rank 1's forward
    loss NaN at iteration 3; what the test compares goes to a file."""
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port),
                      RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE='2')
    # a backend name other than plain 'gloo' (as 'cpu:gloo,cuda:nccl' is):
    # the hook used to make a gloo group of its own for any such name
    torch_dist.init_process_group('cpu:gloo', rank=rank, world_size=2)
    result = dict(groups_before=_process_groups())

    def bad(it):
        return rank == 1 and it == 2

    try:
        runner, watch = _runner(
            os.path.join(work_dir, f'fp16_{rank}'), teacher_ckpt, FP16,
            max_iters=5, bad=bad, watch_at=2, launcher='pytorch')
        probe = VerdictProbe()
        runner.register_hook(probe)
        runner.train()
        result.update(
            started_in_forward=probe.started, fp16_iter=runner.iter,
            fp16_scales=watch.scales, fp16_skipped=list(_hook(runner).skipped),
            fp16_step_moved=any(not torch.equal(watch.weights['after'][k], v)
                                for k, v in watch.weights['before'].items()),
            fp16_params=[
                p.detach().clone()
                for p in runner.model.module.student.parameters()
            ])
        runner, _ = _runner(
            os.path.join(work_dir, f'fp32_{rank}'), teacher_ckpt,
            dict(type=OptimWrapper), max_iters=5, bad=bad, launcher='pytorch')
        try:
            runner.train()
        except FloatingPointError as err:
            result['error'] = str(err)
        result.update(fp32_iter=runner.iter, groups_after=_process_groups())
    finally:
        torch.save(result, os.path.join(out_dir, f'rank{rank}.pth'))
        torch_dist.destroy_process_group()


def test_two_processes_act_together_on_the_default_group(
        tmp_path, teacher_ckpt):
    """2 processes (DDP on gloo): rank 1's forward loss is NaN at iteration
    3. fp16: both ranks skip that step and keep their scale (equal scales,
    equal weights) and train on; fp32: both stop in that iteration with
    the same message naming rank 1. The hook makes no process group."""
    out_dir = tmp_path / 'out'
    out_dir.mkdir()
    mp.spawn(_two_process_worker,
             args=(_free_port(), str(tmp_path), teacher_ckpt, str(out_dir)),
             nprocs=2, join=True)
    first, second = (
        torch.load(out_dir / f'rank{r}.pth', weights_only=False)
        for r in range(2))
    for res in (first, second):
        assert res['groups_after'] == res['groups_before'] == 1
        assert res['fp16_iter'] == 5
        assert res['fp16_scales'] == [INIT_SCALE] * 5
        assert not res['fp16_step_moved']
        assert res['fp16_skipped'] == [3]
        assert res['started_in_forward'] == [True] * 5
        assert res['fp32_iter'] == 2  # stopped in iteration 3
    for p, q in zip(first['fp16_params'], second['fp16_params']):
        assert torch.equal(p, q)
    assert first['error'] == second['error']
    assert first['error'].startswith(
        'non-finite distillation loss at iteration 3: rank 1: '
        'distill.logits.loss = nan. Lower'), first['error']
