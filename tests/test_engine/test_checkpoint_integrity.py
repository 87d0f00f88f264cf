# Copyright (c) mmkd contributors. All rights reserved.
"""Nothing a run saved is lost: checkpoints are complete or absent (an
interrupted write leaves the previous one, even with max_keep_ckpts=1), and
--resume names a broken checkpoint or resumes from the newest complete one.
Real toy RetinaNet/PKD runs through the Runner and tools/train.py."""
import copy
import errno
import glob
import os
import os.path as osp
import re
import shutil
import signal
import subprocess
import sys

import pytest
from dense_utils import REPO_ROOT, load, save_untrained, shrink_det_cfg, train

from mmkd.apis import build_runner, prepare_train_cfg
from mmkd.engine import safe_torch_load
from mmkd.engine.checkpoint_files import (PARTIAL_SUFFIX, AtomicLocalBackend,
                                          CorruptCheckpointError,
                                          DeferredRemovals, checkpoint_problem)

RETINA_S = 'configs/toy/retinanet_r18-w32_shapes-coco.py'
RETINA_T = 'configs/toy/retinanet_r18-w64_shapes-coco.py'
PKD_TOY = 'configs/pkd/pkd_fpn_retinanet_r18-w64_r18-w32_toy-shapes.py'


def last_log(work_dir) -> str:
    logs = sorted(glob.glob(osp.join(str(work_dir), '*', '*.log')))
    with open(logs[-1]) as f:
        return f.read()


def partial_files(work_dir) -> list:
    return glob.glob(osp.join(str(work_dir), '.*' + PARTIAL_SUFFIX))


# ----------------------------------------------------- the file backend
def test_failed_write_keeps_the_old_file_and_leaves_nothing(
        tmp_path, monkeypatch):
    """A full disk in the middle of a write (an OS-level fault, simulated:
    the second os.write fails): the file keeps its old complete content."""
    path = tmp_path / 'epoch_1.pth'
    backend = AtomicLocalBackend()
    backend.put(b'the complete old checkpoint', path)
    real_write = os.write
    calls = []

    def disk_fills_up(fd, data):
        calls.append(len(data))
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, bytes(data)[:len(data) // 2])

    monkeypatch.setattr(os, 'write', disk_fills_up)
    with pytest.raises(
            OSError, match=r'No space left on device while '
            r'writing .*epoch_1\.pth\. Nothing was replaced'):
        backend.put(b'x' * 4096, path)
    monkeypatch.undo()
    assert len(calls) == 2  # the fault did strike mid-write
    assert path.read_bytes() == b'the complete old checkpoint'
    assert os.listdir(tmp_path) == ['epoch_1.pth']


def test_removal_waits_until_released(tmp_path):
    old = tmp_path / 'epoch_1.pth'
    backend = AtomicLocalBackend()
    backend.put(b'old', old)
    removals = DeferredRemovals()
    backend.defer_removals_to(removals)
    removals.protect(str(tmp_path))
    try:
        backend.remove(old)
        assert old.exists()  # still there while the newer one is written
        backend.put(b'new', tmp_path / 'epoch_2.pth')
        assert removals.release(str(tmp_path)) == [str(old)]
        assert not old.exists()
    finally:
        removals.release(str(tmp_path), stop=True)
    backend.remove(tmp_path / 'epoch_2.pth')  # not protected: at once
    assert os.listdir(tmp_path) == []


def test_a_file_written_again_after_its_removal_was_deferred_stays(tmp_path):
    path = tmp_path / 'best_acc_epoch_1.pth'
    writer, remover = AtomicLocalBackend(), AtomicLocalBackend()
    removals = DeferredRemovals()
    remover.defer_removals_to(removals)
    removals.protect(str(tmp_path))
    writer.put(b'old', path)
    remover.remove(path)
    writer.put(b'written again', path)  # another instance, as mmengine's
    assert removals.release() == []
    assert path.read_bytes() == b'written again'


def test_each_runner_hook_has_its_own_removals(tmp_path):
    from mmkd.engine.hooks import CheckpointIntegrityHook
    first, second = CheckpointIntegrityHook(), CheckpointIntegrityHook()
    assert first.removals is not second.removals
    backend = AtomicLocalBackend()
    backend.defer_removals_to(first.removals)
    first.removals.protect(str(tmp_path))
    backend.put(b'x', tmp_path / 'a.pth')
    AtomicLocalBackend().remove(tmp_path / 'a.pth')  # no removals: at once
    assert os.listdir(tmp_path) == []


# -------------------------------------- a kill while writing a checkpoint
@pytest.fixture(scope='module')
def teacher_ckpt(tmp_path_factory):
    """A freshly saved (untrained) toy teacher checkpoint."""
    return save_untrained(RETINA_T,
                          tmp_path_factory.mktemp('teacher') / 'teacher.pth')


def test_kill_during_checkpoint_write_keeps_previous_and_resumes(
        teacher_ckpt, coco_shapes_root, tmp_path):
    """The toy PKD pair, max_keep_ckpts=1 (mmengine deletes epoch_1.pth
    *before* it writes epoch_2.pth). Epoch 2 runs in tools/train.py in a
    process whose files may not grow past half a checkpoint: the kernel
    kills it (SIGXFSZ) in the middle of writing epoch_2.pth. epoch_1.pth
    is still there, complete and a plain student checkpoint, and --resume
    continues from it."""
    cfg = load(PKD_TOY)
    cfg.model.teacher.checkpoint = teacher_ckpt
    cfg = shrink_det_cfg(cfg, coco_shapes_root, str(tmp_path), max_epochs=1)
    cfg.default_hooks.checkpoint.max_keep_ckpts = 1
    train(copy.deepcopy(cfg))
    first = tmp_path / 'epoch_1.pth'
    limit = first.stat().st_size // 2

    cfg.train_cfg.max_epochs = 2
    cfg_file = str(tmp_path / 'pkd_toy.py')
    cfg.dump(cfg_file)
    code = (
        'import resource, runpy, signal, sys\n'
        f'resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n'
        'signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # python ignores it\n'
        f'sys.argv = ["tools/train.py", {cfg_file!r}, "--resume"]\n'
        'runpy.run_path("tools/train.py", run_name="__main__")\n')
    proc = subprocess.run([sys.executable, '-c', code], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == -signal.SIGXFSZ, proc.stderr[-3000:]

    # what the kill left: the previous checkpoint, whole, and named
    assert checkpoint_problem(str(first)) is None
    assert (tmp_path / 'last_checkpoint').read_text().strip() == str(first)
    assert not (tmp_path / 'epoch_2.pth').exists()
    partial = partial_files(tmp_path)  # the interrupted write
    assert len(partial) == 1 and osp.getsize(partial[0]) == limit
    assert osp.basename(partial[0]).startswith('.epoch_2.pth.')
    ckpt = safe_torch_load(str(first))
    assert ckpt['meta']['epoch'] == 1
    assert not any(
        k.startswith(('student.', 'distill_entries.'))
        for k in ckpt['state_dict'])  # plain student keys
    assert any(
        k.startswith('distill_entries.') for k in ckpt['distill_state_dict'])

    # --resume continues from epoch 1
    runner = build_runner(
        prepare_train_cfg(
            copy.deepcopy(cfg), work_dir=str(tmp_path), resume='auto'))
    runner.train()
    assert runner.epoch == 2
    log = last_log(tmp_path)
    assert 'resumed epoch: 1' in log
    assert 'the rest of a checkpoint write that was interrupted' in log
    assert partial_files(tmp_path) == []
    assert checkpoint_problem(str(tmp_path / 'epoch_2.pth')) is None
    assert not first.exists()  # retired once epoch_2.pth was complete


# ------------------------------------------- resume from a broken file
@pytest.fixture(scope='module')
def two_epochs(tmp_path_factory, coco_shapes_root):
    """A plain toy RetinaNet run of 2 epochs: epoch_1.pth, epoch_2.pth."""
    work_dir = tmp_path_factory.mktemp('two_epochs')
    train(
        shrink_det_cfg(
            load(RETINA_S), coco_shapes_root, str(work_dir), max_epochs=2))
    return work_dir


def broken_copy(run_dir, tmp_path, damage='truncated',
                keep=('epoch_1.pth', 'epoch_2.pth')):
    """A copy of the run whose epoch_2.pth (the latest) is damaged as a
    kill during mmengine's in-place write (truncated) or a bad disk
    (corrupt) leaves it."""
    work = tmp_path / 'work'
    work.mkdir()
    for name in keep:
        shutil.copy(run_dir / name, work / name)
    latest = work / 'epoch_2.pth'
    data = bytearray(latest.read_bytes())
    if damage == 'truncated':
        data = data[:len(data) // 2]
    else:
        data[len(data) // 2] ^= 0xFF
    latest.write_bytes(bytes(data))
    (work / 'last_checkpoint').write_text(str(latest))
    return work


def resume_cfg(coco_shapes_root, work, resume, max_epochs=2):
    cfg = shrink_det_cfg(
        load(RETINA_S), coco_shapes_root, str(work), max_epochs=max_epochs)
    return build_runner(
        prepare_train_cfg(cfg, work_dir=str(work), resume=resume))


@pytest.mark.parametrize('damage,why', [
    ('truncated', 'it is truncated: the .*-byte file starts as a torch '
     'checkpoint but its end is missing'),
    ('corrupt', "it is corrupt: its entry '.*' fails its CRC check"),
])
def test_resume_from_broken_checkpoint_names_it_and_the_earlier_one(
        two_epochs, coco_shapes_root, tmp_path, damage, why):
    work = broken_copy(two_epochs, tmp_path, damage)
    latest, earlier = str(work / 'epoch_2.pth'), str(work / 'epoch_1.pth')
    runner = resume_cfg(coco_shapes_root, work, resume=latest)
    with pytest.raises(
            CorruptCheckpointError,
            match=rf'cannot resume from {re.escape(latest)}: '
            rf'{why}.*--resume {re.escape(earlier)}'):
        runner.train()
    assert runner.iter == 0


def test_auto_resume_falls_back_to_newest_complete(two_epochs,
                                                   coco_shapes_root, tmp_path):
    work = broken_copy(two_epochs, tmp_path)
    runner = resume_cfg(coco_shapes_root, work, resume='auto')
    runner.train()
    assert runner.epoch == 2
    log = last_log(work)
    assert re.search(
        r'cannot resume from the latest checkpoint .*'
        r'epoch_2\.pth .*it is truncated.*Resuming from '
        r'.*epoch_1\.pth, the newest complete checkpoint', log)
    assert 'resumed epoch: 1' in log
    assert checkpoint_problem(str(work / 'epoch_2.pth')) is None


def test_auto_resume_without_last_checkpoint_does_not_start_over(
        two_epochs, coco_shapes_root, tmp_path):
    work = tmp_path / 'work'
    work.mkdir()
    for name in ('epoch_1.pth', 'epoch_2.pth'):
        shutil.copy(two_epochs / name, work / name)
    before = (work / 'epoch_2.pth').read_bytes()
    runner = resume_cfg(coco_shapes_root, work, resume='auto')
    runner.train()  # resumed at epoch 2 of 2: nothing left to train
    assert 'resumed epoch: 2' in last_log(work)
    assert (work / 'epoch_2.pth').read_bytes() == before  # not overwritten


def test_auto_resume_with_no_complete_checkpoint(two_epochs, coco_shapes_root,
                                                 tmp_path):
    work = broken_copy(two_epochs, tmp_path, keep=('epoch_2.pth', ))
    runner = resume_cfg(coco_shapes_root, work, resume='auto')
    with pytest.raises(
            CorruptCheckpointError,
            match=r'cannot resume from the latest checkpoint '
            r'.*epoch_2\.pth.*truncated.*holds no earlier '
            r'complete checkpoint. Train from the start, '
            r'without --resume'):
        runner.train()
    assert runner.iter == 0
