# Copyright (c) mmkd contributors. All rights reserved.
"""A hook the multi-process test adds to a real run (``custom_imports`` of
this module): each rank writes what the test compares across ranks to
``<work_dir>/probe_rank<r>.pth``. It only reads the run; it changes
nothing."""
import os.path as osp

import torch
from mmengine.dist import get_dist_info
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


def _lsh_buffers(model) -> dict:
    from mmkd.models.losses import LSHLoss
    return {
        name:
        dict(proj_weight=m.proj_weight.clone(), proj_bias=m.proj_bias.clone())
        for name, m in model.named_modules() if isinstance(m, LSHLoss)
    }


def _rank_dependent_failure():
    """A check that fails on rank 1 only, run through mmkd's all-rank
    helper: every rank must raise, with rank 1's message."""
    from mmkd.utils.dist import run_on_all_ranks
    rank, _ = get_dist_info()

    def check():
        if rank == 1:
            raise ValueError('only rank 1 sees this problem')
        return 'fine'

    try:
        run_on_all_ranks(check)
    except ValueError as err:
        return str(err)
    return None


@HOOKS.register_module()
class DistProbeHook(Hook):
    # after LSHMedianBiasHook ('LOW') and DistillCheckHook ('VERY_LOW')
    priority = 'LOWEST'

    def __init__(self) -> None:
        self.record = {}

    def before_train(self, runner) -> None:
        from mmkd.models.losses import AvatarLoss
        from mmkd.utils.dist import cat_across_ranks
        rank, world_size = get_dist_info()
        wrapper = runner.model
        model = wrapper.module if is_model_wrapper(wrapper) else wrapper
        avatars = AvatarLoss(
            base=dict(type='mmkd.CWDLoss', tau=1.0), num_avatars=2,
            seed=0).make_avatars(torch.ones(1, 4, 3, 3))
        self.record.update(
            rank=rank,
            world_size=world_size,
            wrapper=type(wrapper).__name__,
            find_unused_parameters=getattr(wrapper, 'find_unused_parameters',
                                           None),
            device_ids=getattr(wrapper, 'device_ids', None),
            # the parameters DDP reduces: those of its module with grad
            ddp_params=sorted(n for n, p in model.named_parameters()
                              if p.requires_grad),
            lsh=_lsh_buffers(model),
            distill_before={
                k: v.clone()
                for k, v in model.distill_entries.state_dict().items()
            },
            avatars=avatars,
            failure=_rank_dependent_failure(),
            # rank 1 has no rows at all
            gathered=cat_across_ranks(None if rank ==
                                      1 else torch.arange(6.).view(2, 3)),
            img_ids=[])

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        self.record['img_ids'].extend(
            int(s.img_id) for s in data_batch['data_samples'])

    def after_train(self, runner) -> None:
        wrapper = runner.model
        model = wrapper.module if is_model_wrapper(wrapper) else wrapper
        self.record['state'] = {
            k: v.clone()
            for k, v in model.state_dict().items()
        }
        self.record['params'] = {
            n: p.detach().clone()
            for n, p in model.named_parameters()
        }
        self.record['lsh_after'] = _lsh_buffers(model)
        torch.save(
            self.record,
            osp.join(runner.work_dir, f'probe_rank{self.record["rank"]}.pth'))


@HOOKS.register_module()
class NaNOnRankHook(Hook):
    """Corrupts the student on one rank before one iteration (its FPN's
    first output conv becomes NaN there only), so that rank's distillation
    loss is not finite while the other rank's is; writes when it did."""
    priority = 'HIGHEST'

    def __init__(self, rank: int = 1, iteration: int = 1) -> None:
        self.rank = rank
        self.iteration = iteration

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        import time
        rank, _ = get_dist_info()
        if rank != self.rank or runner.iter != self.iteration:
            return
        wrapper = runner.model
        model = wrapper.module if is_model_wrapper(wrapper) else wrapper
        with torch.no_grad():
            model.student.neck.fpn_convs[0].conv.weight.fill_(float('nan'))
        with open(osp.join(runner.work_dir, 'nan_injected.txt'), 'w') as f:
            f.write(repr(time.time()))
