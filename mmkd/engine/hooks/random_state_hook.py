# Copyright (c) mmkd contributors. All rights reserved.
import random
from typing import Iterator, Optional, Tuple

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_dist_info
from mmengine.hooks import Hook
from mmengine.runner import EpochBasedTrainLoop
from torch.utils.data import get_worker_info

from mmkd.registry import HOOKS

RANDOM_STATE_KEY = 'mmkd_random_state'


# ------------------------------------------------------------ main process
def capture_random_state() -> dict:
    """Python's ``random``, NumPy's global and torch's (CPU, CUDA) random
    states, in types ``torch.load(weights_only=True)`` reads back."""
    version, internal, gauss = random.getstate()
    _, keys, pos, has_gauss, cached = np.random.get_state()
    state = dict(
        python=[version, list(internal), gauss], numpy=dict(
            keys=torch.from_numpy(keys.astype(np.int64)), pos=int(pos),
            has_gauss=int(has_gauss), cached_gaussian=float(cached)),
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore_random_state(state: dict) -> None:
    """Set the states :func:`capture_random_state` returned (tensors may
    come back on another device: a resume maps the checkpoint to the
    GPU)."""
    version, internal, gauss = state['python']
    random.setstate((int(version), tuple(int(v) for v in internal), gauss))
    npy = state['numpy']
    np.random.set_state(
        ('MT19937', npy['keys'].cpu().numpy().astype(np.uint32), npy['pos'],
         npy['has_gauss'], npy['cached_gaussian']))
    torch.set_rng_state(state['torch'].cpu())
    cuda = state.get('cuda')
    if cuda and torch.cuda.is_available() and \
            len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda])


# ----------------------------------------------------------------- workers
def worker_epoch_seeds(seed: int, epoch: int,
                       worker: int) -> Tuple[int, int, int]:
    """Seeds of Python's ``random``, NumPy and torch for data-loader worker
    ``worker`` (its global index) in ``epoch``, from the run's seed."""
    seq = np.random.SeedSequence(
        entropy=int(seed) % 2**64, spawn_key=(int(epoch), int(worker)))
    w = [int(x) for x in seq.generate_state(5, dtype=np.uint32)]
    return w[0] << 32 | w[1], w[2], w[3] << 32 | w[4]


class EpochSeededPipeline:
    """A dataset's pipeline that, inside a data-loader worker, reseeds the
    worker's random streams (:func:`worker_epoch_seeds`) before its first
    sample of every epoch. The epoch comes from a shared-memory tensor that
    :class:`RandomStateHook` sets in the main process, so persistent
    workers see it change too. In the main process it only calls the
    pipeline."""

    def __init__(self, pipeline, epoch: torch.Tensor, seed: int, rank: int,
                 seeded: dict) -> None:
        self.pipeline = pipeline
        self.epoch = epoch
        self.seed = seed
        self.rank = rank
        # shared by the pipelines of one hook (a concatenated dataset's):
        # {'epoch': the epoch this worker's streams are seeded for}; each
        # worker process holds its own copy
        self.seeded = seeded

    def __call__(self, results):
        info = get_worker_info()
        if info is not None:
            epoch = int(self.epoch[0])
            if self.seeded.get('epoch') != epoch:
                self.seeded['epoch'] = epoch
                seeds = worker_epoch_seeds(
                    self.seed, epoch, self.rank * info.num_workers + info.id)
                random.seed(seeds[0])
                np.random.seed(seeds[1])
                torch.manual_seed(seeds[2])
        return self.pipeline(results)

    def __getattr__(self, name):
        # the wrapped pipeline's attributes (e.g. `transforms`); none while
        # unpickling, before `pipeline` is set
        pipeline = self.__dict__.get('pipeline')
        if pipeline is None:
            raise AttributeError(name)
        return getattr(pipeline, name)

    def __repr__(self) -> str:
        return f'EpochSeededPipeline({self.pipeline!r})'


def _pipeline_owners(dataset, seen=None) -> Iterator:
    """``dataset`` and the datasets inside its wrappers (``dataset``,
    ``datasets``) that have a callable ``pipeline``."""
    seen = set() if seen is None else seen
    if dataset is None or id(dataset) in seen:
        return
    seen.add(id(dataset))
    if callable(getattr(dataset, 'pipeline', None)):
        yield dataset
    yield from _pipeline_owners(getattr(dataset, 'dataset', None), seen)
    for inner in getattr(dataset, 'datasets', None) or []:
        yield from _pipeline_owners(inner, seen)


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Resume restores the random streams data augmentation draws from, so
    that a run stopped at an epoch boundary and resumed (``--resume``) gets
    the same random flips, crops, ... and the same weights as an
    uninterrupted run.

    What draws the augmentation's random numbers depends on the process:

    * **main process** (``num_workers=0``): the global streams of Python's
      ``random``, NumPy and torch, which run on across epochs; mmengine
      does not save them, so a resumed run restarts them from the seed.
      This hook captures them at the end of every training epoch (before
      the checkpoint is written, and before validation), stores them in
      the checkpoint (``mmkd_random_state``; per rank in multi-process
      runs) and sets them back at the start of the next epoch, in the
      uninterrupted run as in the resumed one. Validation in between thus
      no longer shifts the training streams either.
    * **data-loader workers**: mmengine seeds each worker from the seed and
      its index only, so persistent workers (``persistent_workers=True``)
      carry their streams across epochs, which a new process cannot
      continue. This hook makes every worker reseed before its first sample
      of each epoch from the seed, the epoch and the worker's global index
      (rank x num_workers + worker id): nothing of a worker's state needs
      saving, and epochs no longer repeat the same stream.

    Epoch-based loops only: an iteration-based loop (one endless epoch) is
    left as mmengine runs it. Every run through mmkd gets this hook
    (:data:`~mmkd.engine.distill_hooks.RUN_STATE_HOOKS`).
    """
    # after_train_epoch: before CheckpointHook (VERY_LOW) writes; and after
    # NORMAL hooks that replace the pipeline at an epoch (PipelineSwitchHook)
    priority = 'BELOW_NORMAL'

    def __init__(self) -> None:
        self._seeded: dict = {}
        self._epoch_tensor: Optional[torch.Tensor] = None
        self._rank, self._world_size = 0, 1
        self._state: Optional[dict] = None
        self._active = False

    def before_train(self, runner) -> None:
        self._active = isinstance(runner.train_loop, EpochBasedTrainLoop)
        if not self._active:
            runner.logger.info(
                'RandomStateHook: the training loop is not epoch based; the '
                'random streams are left as mmengine runs them.')
            return
        self._rank, self._world_size = get_dist_info()
        self._epoch_tensor = torch.zeros(1, dtype=torch.int64)
        self._epoch_tensor.share_memory_()
        self._wrap_pipelines(runner)

    def _wrap_pipelines(self, runner) -> None:
        loader = runner.train_dataloader
        if not getattr(loader, 'num_workers', 0):
            return  # the main process draws: its state is saved
        for dataset in _pipeline_owners(loader.dataset):
            if not isinstance(dataset.pipeline, EpochSeededPipeline):
                dataset.pipeline = EpochSeededPipeline(dataset.pipeline,
                                                       self._epoch_tensor,
                                                       runner.seed, self._rank,
                                                       self._seeded)

    def before_train_epoch(self, runner) -> None:
        if not self._active:
            return
        state = self._state
        if state is not None and state['epoch'] == runner.epoch:
            per_rank = state['states']
            if len(per_rank) == self._world_size:
                restore_random_state(per_rank[self._rank])
            else:
                runner.logger.warning(
                    f'RandomStateHook: the checkpoint holds the random '
                    f'states of {len(per_rank)} processes, this run has '
                    f'{self._world_size}; they are not restored, so the '
                    'augmentation after this resume differs from an '
                    'uninterrupted run.')
        self._epoch_tensor[0] = runner.epoch
        self._wrap_pipelines(runner)  # again, if a hook replaced a pipeline

    def after_train_epoch(self, runner) -> None:
        if not self._active:
            return
        local = capture_random_state()
        states = (
            all_gather_object(local) if self._world_size > 1 else [local])
        # runner.epoch is incremented after this hook: the next epoch
        self._state = dict(epoch=runner.epoch + 1, states=states)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self._active and self._state is not None:
            checkpoint[RANDOM_STATE_KEY] = self._state

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # a resume: restored at the start of the epoch it was saved for
        # (a plain load_from starts at epoch 0 and never matches)
        state = checkpoint.get(RANDOM_STATE_KEY)
        if isinstance(state, dict) and 'epoch' in state:
            self._state = state
