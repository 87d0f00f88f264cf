# Copyright (c) mmkd contributors. All rights reserved.
import os.path as osp
from typing import List

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook, Hook

from mmkd.registry import HOOKS
from ..checkpoint_files import (ATOMIC_BACKEND, AtomicLocalBackend,
                                CorruptCheckpointError, DeferredRemovals,
                                atomic_write, checkpoint_problem, is_local,
                                newest_complete_checkpoint,
                                remove_partial_files)
from ..checkpoint_loading import make_checkpoint_plain


@HOOKS.register_module()
class CheckpointIntegrityHook(Hook):
    """Nothing a run has saved is lost to a kill or a full disk, and
    ``--resume`` never starts from a broken file.

    * **Atomic checkpoints.** Every ``CheckpointHook`` of the runner that
      writes to a local directory with mmengine's default file backend
      writes through :class:`~mmkd.engine.checkpoint_files.
      AtomicLocalBackend` (temporary file, fsync, ``os.replace``), and the
      checkpoint that ``max_keep_ckpts`` or ``save_best`` retires is deleted
      only after the newer one is complete and ``last_checkpoint`` names it.
      So ``last_checkpoint`` and every ``*.pth`` of the work dir are always
      complete files. What an interrupted write left behind (a hidden
      ``.*.mmkd-partial`` file) is deleted when the next run starts.
    * **Safe resume** (before the checkpoint is loaded): a checkpoint given
      with ``--resume CKPT`` (``resume=True``, ``load_from=CKPT``) or
      ``load_from`` that is truncated or corrupt stops the run with an error
      naming the file, what is wrong with it and the newest complete
      checkpoint of the work dir to resume from instead. ``--resume`` with
      no path (``resume=True``, ``load_from=None``) resumes from the newest
      complete checkpoint when the one ``last_checkpoint`` names is broken or
      missing (or ``last_checkpoint`` itself is), and says so in the log.
    * **Checkpoints that load anywhere.** Before a checkpoint is written,
      what mmengine pickles beyond tensors and plain containers (the
      message hub's ``HistoryBuffer`` objects, numpy arrays and scalars) is
      replaced by plain stand-ins (:func:`~mmkd.engine.checkpoint_loading.
      make_checkpoint_plain`): the file loads with
      ``torch.load(weights_only=True)``, so with ``init_detector`` /
      ``init_model`` in a process without mmkd, while mmkd's loaders turn
      the stand-ins back (``--resume`` restores the same message hub). A
      value with no plain form is written as it is and named in a warning.

    Every run through mmkd gets this hook
    (:data:`~mmkd.engine.distill_hooks.RUN_STATE_HOOKS`).
    """
    priority = 'LOWEST'  # after CheckpointHook in every stage

    def __init__(self) -> None:
        self._dirs: List[str] = []
        self._not_plain: List[str] = []  # what the last warning named
        # this run's held-back checkpoint removals (see DeferredRemovals)
        self.removals = DeferredRemovals()

    # ------------------------------------------------------------ set-up
    def _checkpoint_hooks(self, runner) -> List[CheckpointHook]:
        return [h for h in runner.hooks if isinstance(h, CheckpointHook)]

    def before_run(self, runner) -> None:
        for hook in self._checkpoint_hooks(runner):
            out_dir = hook.out_dir if hook.out_dir is not None else \
                runner.work_dir
            if hook.backend_args is None and hook.file_client_args is None \
                    and is_local(out_dir):
                hook.backend_args = dict(backend=ATOMIC_BACKEND)
        self._check_resume_target(runner)

    def before_train(self, runner) -> None:
        # CheckpointHook.before_train (higher priority) has resolved out_dir
        dirs = {runner.work_dir}
        for hook in self._checkpoint_hooks(runner):
            out_dir = hook.out_dir
            backend = hook.file_backend
            if is_local(out_dir) and isinstance(backend, AtomicLocalBackend):
                backend.defer_removals_to(self.removals)
                self.removals.protect(out_dir)
                self._dirs.append(out_dir)
                dirs.add(out_dir)
        if not is_main_process():
            return
        for directory in sorted(dirs):
            for path in remove_partial_files(directory):
                runner.logger.warning(
                    f'removed {path}: the rest of a checkpoint write that '
                    'was interrupted (a kill or a full disk) in an earlier '
                    'run; the checkpoints themselves are complete.')

    # --------------------------------------------------- plain content
    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        # LOWEST priority: after every hook that adds to the checkpoint
        problems = make_checkpoint_plain(checkpoint)
        if problems and problems != self._not_plain:
            runner.logger.warning(
                'this checkpoint holds values that torch.load(weights_only='
                'True) refuses and that have no plain form: '
                f'{"; ".join(problems)}. mmdet/mmseg (init_detector, '
                'init_model) cannot load it in a process without mmkd, and '
                'mmkd refuses to resume from it. Put numbers, strings, '
                'lists, dicts, tensors or numpy arrays there instead (the '
                'hook, metric or scheduler named by the path holds them).')
        self._not_plain = problems

    # ------------------------------------------------- deferred removals
    def _release(self, runner) -> None:
        for directory in self._dirs:
            self.removals.release(directory)

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        self._release(runner)

    def after_train_epoch(self, runner) -> None:
        self._release(runner)

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._release(runner)

    def after_train(self, runner) -> None:
        self._release(runner)

    def after_run(self, runner) -> None:
        for directory in self._dirs:
            self.removals.release(directory, stop=True)
        self._dirs = []

    # ------------------------------------------------------------ resume
    def _check_resume_target(self, runner) -> None:
        cfg = runner.cfg
        resume = bool(cfg.get('resume', False))
        load_from = cfg.get('load_from')
        if load_from is not None:
            self._check_given(runner, str(load_from), resume)
        elif resume:
            self._check_latest(runner)

    def _check_given(self, runner, path: str, resume: bool) -> None:
        if not is_local(path):
            return
        problem = checkpoint_problem(path)
        if problem is None:
            return
        earlier = newest_complete_checkpoint(
            [osp.dirname(path), runner.work_dir], exclude=[path])
        if resume:
            what = 'resume from'
            fix = (f'Resume from the newest complete checkpoint instead: '
                   f'--resume {earlier} (a plain --resume, with no path, '
                   'picks it up by itself).' if earlier else
                   f'Neither {osp.dirname(path) or "."} nor the work dir '
                   f'{runner.work_dir} holds a complete checkpoint: train '
                   'from the start, without --resume.')
        else:
            what = 'load weights from (load_from)'
            fix = (f'The newest complete checkpoint beside it is {earlier}.'
                   if earlier else 'Point load_from at a complete '
                   'checkpoint.')
        raise CorruptCheckpointError(f'cannot {what} {path}: {problem}. {fix}')

    def _check_latest(self, runner) -> None:
        work_dir = runner.work_dir
        save_file = osp.join(work_dir, 'last_checkpoint')
        if osp.exists(save_file):
            with open(save_file) as f:
                named = f.read().strip()
            if named and not is_local(named):
                return
            problem = (checkpoint_problem(named) if named else 'it is empty')
            if problem is None:
                return
            where = (f'the latest checkpoint {named} (named by {save_file})'
                     if named else save_file)
            search = [osp.dirname(named), work_dir] if named else [work_dir]
        else:
            named, search = '', [work_dir]
            problem = where = None
        newest = newest_complete_checkpoint(search, exclude=[named])
        if newest is None:
            if problem is None:
                return  # nothing saved yet: mmengine starts afresh
            raise CorruptCheckpointError(
                f'--resume: cannot resume from {where}: {problem}, and '
                f'{work_dir} holds no earlier complete checkpoint. Train '
                'from the start, without --resume (the broken file is '
                'overwritten).')
        if problem is None:
            message = (f'--resume: {save_file} is missing, but the work dir '
                       f'holds checkpoints; resuming from the newest '
                       f'complete one, {newest}, instead of starting over '
                       'and overwriting them.')
        else:
            message = (f'--resume: cannot resume from {where}: {problem}. '
                       f'Resuming from {newest}, the newest complete '
                       'checkpoint, instead.')
        runner.logger.warning(message)
        # mmengine's auto-resume reads last_checkpoint right after before_run
        atomic_write(save_file, newest.encode())
