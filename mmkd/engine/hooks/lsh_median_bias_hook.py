# Copyright (c) mmkd contributors. All rights reserved.
"""Initialise the hash projections of LSH losses from the teacher and the
training data before training."""
import sys
from typing import Dict, Iterator, List, Tuple

import torch
from mmengine.dist import broadcast, get_dist_info, is_main_process
from mmengine.hooks import Hook
from mmengine.utils import ProgressBar
from torch import Tensor

from mmkd.registry import HOOKS
from mmkd.utils.dist import cat_across_ranks
from .utils import (num_train_batches, preserved_rng_state, rank_train_batches,
                    unwrap_model)


def _lsh_losses_in(loss) -> list:
    """The LSHLoss modules in a loss (itself, or wrapped, e.g. by
    AvatarLoss)."""
    from mmkd.models.losses import LSHLoss
    return [m for m in loss.modules() if isinstance(m, LSHLoss)]


def _lsh_inputs(entry, teacher_out: dict) -> Iterator[Tuple]:
    """``(LSH loss, teacher levels)`` as the entry's losses see them
    (through its ``teacher_connector``) in one call: all levels at once for
    a loss that takes them together (``joint_levels``, e.g.
    ``level_reduction='mean'``), else one level at a time."""
    levels = [
        entry.align_teacher(feat, i)
        for i, feat in enumerate(entry.teacher_levels(teacher_out))
    ]
    if entry.joint_levels:
        groups = [(entry.loss_for(0), levels)]
    else:
        groups = [(entry.loss_for(i), [feat]) for i, feat in enumerate(levels)]
    for loss_fn, feats in groups:
        for loss in _lsh_losses_in(loss_fn):
            yield loss, feats


@HOOKS.register_module()
class LSHMedianBiasHook(Hook):
    """Finish the set-up of every :class:`~mmkd.models.losses.LSHLoss` of a
    distiller before the first training iteration (LSHFM, Wang et al.,
    arXiv 2011.01424: "b is initialised so each bit is balanced").

    For each LSH loss not yet initialised:

    1. with ``std_from``: ``W`` is redrawn (same seed) with the std of that
       teacher parameter (e.g. ``'head.fc.weight'``);
    2. with ``bias='median'``: the teacher runs over at most
       ``max_batches`` training batches (the distiller's data preprocessor,
       training mode, and its teacher recorder, which stops the teacher
       after the recorded modules) and each bit's bias is set to minus the
       median of ``W ft`` over the teacher features seen, so each hash bit
       is 1 for half of them. These are the vectors the loss hashes: each
       position's (unfolded) vector, all levels pooled for
       ``level_reduction='mean'``, without the positions its anchor mask
       leaves out.

    The losses' buffer ``initialized`` is then set and saved with the
    checkpoint, so a resumed run does not recompute anything. The pass
    leaves the global random states unchanged. In a multi-process run each
    rank runs the teacher on its share of the ``max_batches`` batches
    (batch ``i`` on rank ``i % world_size``, its random pipeline seeded by
    ``i``), the projections of all ranks are gathered and every rank takes
    the medians over all of them: the bias is the same on every rank and
    equals the single-process one. (Rank 0's projection and bias are then
    broadcast, a no-op safeguard.) It runs before :class:`DistillCheckHook`
    (priority ``'LOW'``).

    Memory: the projections kept are at most ``max_batches *
    max_vectors_per_batch * num_bits`` floats per loss (on the CPU).

    Args:
        max_batches (int): training batches used for the medians.
            Defaults to 50.
        max_vectors_per_batch (int): feature vectors kept per batch and
            level (per batch, all levels pooled, for
            ``level_reduction='mean'``): a random subset of the positions
            of feature maps. Defaults to 512.
    """
    priority = 'LOW'

    def __init__(self, max_batches: int = 50,
                 max_vectors_per_batch: int = 512) -> None:
        for name, value in (('max_batches', max_batches),
                            ('max_vectors_per_batch', max_vectors_per_batch)):
            if not isinstance(value, int) or isinstance(value, bool) or \
                    value < 1:
                raise ValueError(f'LSHMedianBiasHook: {name} must be an int '
                                 f'>= 1, got {value!r}')
        self.max_batches = max_batches
        self.max_vectors_per_batch = max_vectors_per_batch

    def before_train(self, runner) -> None:
        from mmkd.models.distillers import SingleTeacherDistiller
        model = unwrap_model(runner.model)
        if not isinstance(model, SingleTeacherDistiller):
            raise TypeError('LSHMedianBiasHook needs a distiller model '
                            "(e.g. type='mmkd.SingleTeacherDistiller'), got "
                            f'{type(model).__name__}')
        losses = list({
            id(m): m
            for entry in model.distill_entries
            for loss in entry.losses
            for m in _lsh_losses_in(loss)
        }.values())
        if not losses:
            runner.logger.warning('LSHMedianBiasHook: the distiller has no '
                                  'LSHLoss; nothing to initialise')
            return
        todo = [loss for loss in losses if not bool(loss.initialized)]
        if not todo:
            runner.logger.info('LSHMedianBiasHook: the LSH losses are '
                               'already initialised (resumed); skipped')
            return
        if runner.iter > 0:
            runner.logger.warning(
                f'LSHMedianBiasHook: resuming at iteration {runner.iter} '
                'from a checkpoint without initialised LSH losses; '
                'initialising them now')
        for loss in todo:
            if loss.std_from is not None:
                std = loss.resolve_std(model.teacher)
                loss.reset_projection(std)
                runner.logger.info(f'LSHLoss: std {std:.6g} of teacher '
                                   f'parameter {loss.std_from!r}')
        median = [loss for loss in todo if loss.bias == 'median']
        if median:
            self._set_median_biases(runner, model, median)
        for loss in todo:
            broadcast(loss.proj_weight, src=0)
            broadcast(loss.proj_bias, src=0)
            loss.initialized.fill_(True)

    def _set_median_biases(self, runner, model, losses: list) -> None:
        projections: Dict[int, List[Tensor]] = {id(m): [] for m in losses}
        num_batches = num_train_batches(runner, self.max_batches)
        # each rank runs the teacher on its share of the batches (index %
        # world_size == rank); the medians are taken over all of them
        rank, world_size = get_dist_info()
        bar = ProgressBar(
            len(range(rank, num_batches, world_size)),
            file=sys.stdout) if is_main_process() else None
        with preserved_rng_state(), torch.no_grad():
            for index, batch in rank_train_batches(runner, self.max_batches):
                data = model.data_preprocessor(batch, True)
                outs = model.teacher_outputs(data['inputs'],
                                             data['data_samples'])
                for entry in model.distill_entries:
                    for loss, feats in _lsh_inputs(entry, outs):
                        if id(loss) in projections:
                            vectors = loss.hashed_vectors(
                                feats, data['data_samples'])
                            projections[id(loss)].append(
                                self._project(loss, vectors, index))
                if bar is not None:
                    bar.update()
        if bar is not None:
            bar.file.write('\n')
        for loss in losses:
            local = projections[id(loss)]
            # the rows of every rank (a rank may have had no batch): the
            # median of all ranks' data, the same on every rank (and the
            # single-process one)
            rows = cat_across_ranks(torch.cat(local) if local else None)
            loss.set_median_bias(rows)
        runner.logger.info(
            f'LSHMedianBiasHook: median bias of {len(losses)} LSH loss(es) '
            f'from {num_batches} batches ({len(rows)} teacher feature '
            'vectors for the last)')

    def _project(self, loss, feat: Tensor, index: int) -> Tensor:
        """``W ft`` of at most ``max_vectors_per_batch`` of the feature
        vectors of ``feat`` (N x D rows, or the positions of a map unfolded
        as the loss does; a seeded random subset when there are more)."""
        vectors = loss.vectors(feat)
        if vectors.shape[0] > self.max_vectors_per_batch:
            gen = torch.Generator().manual_seed(index)
            keep = torch.randperm(vectors.shape[0], generator=gen)
            vectors = vectors[keep[:self.max_vectors_per_batch].to(
                vectors.device)]
        return loss.projections(vectors).float().cpu()
