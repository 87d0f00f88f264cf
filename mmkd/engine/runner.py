# Copyright (c) mmkd contributors. All rights reserved.
"""The mmengine Runner mmkd configs name with ``runner_type``.

A distillation config that inherits ``configs/_base_/mmkd_runtime.py`` says
``runner_type='mmkd.DistillRunner'`` (and ``custom_imports`` of ``mmkd``), so
every launcher that builds its runner from the config -- mmkd's
``tools/train.py``, mmdet's and mmseg's own ``tools/train.py``, ``mim train``
-- builds this one. It is mmengine's :class:`~mmengine.runner.Runner` with
three additions:

1. **mmkd's hooks.** Every hook :func:`~mmkd.engine.distill_hooks.
   with_mmkd_hooks` gives the model (for a distiller: pre-flight check, plain
   student checkpoints and their resume, ...; for any model: atomic
   checkpoints and exact resume) that the config does not list already is
   registered. Hooks already listed are not added twice.
2. **Distributed start-up on any machine.** mmengine's ``init_dist`` calls
   ``torch.cuda.set_device``, which a machine without CUDA refuses. Without
   CUDA the process group is started here with the ``gloo`` backend (the
   config's ``nccl`` cannot run on the CPU); with CUDA mmengine's own path
   runs unchanged (``env_cfg.dist_cfg``, NCCL by default).
3. **A DDP wrapper that works on both.** mmengine passes
   ``device_ids=[LOCAL_RANK]`` to DDP, which a CPU module refuses;
   :class:`MMKDDistributedDataParallel` drops it for CPU modules. For a
   distiller, ``find_unused_parameters`` defaults to True (the weight
   schedule can switch distillation off, leaving the connectors out of the
   graph); set ``find_unused_parameters`` (or ``model_wrapper_cfg``) in the
   config to choose.
"""
import os
from typing import Dict, List, Optional, Union

import torch
import torch.distributed as torch_dist
from mmengine.dist import is_distributed
from mmengine.hooks import Hook
from mmengine.model import MMDistributedDataParallel, is_model_wrapper
from mmengine.runner import Runner
from torch import nn

from mmkd.registry import MODEL_WRAPPERS, RUNNERS
from mmkd.utils.pretrained_init import check_run_pretrained
from .distill_hooks import hook_options, with_mmkd_hooks
from .hooks.utils import is_distiller, unwrap_model

# the wrapper type names that mean "mmengine's default DDP"
_DEFAULT_DDP = ('MMDistributedDataParallel',
                'mmengine.MMDistributedDataParallel')
_WRAPPER = 'mmkd.MMKDDistributedDataParallel'


@MODEL_WRAPPERS.register_module()
class MMKDDistributedDataParallel(MMDistributedDataParallel):
    """mmengine's DDP wrapper that also runs on the CPU.

    mmengine's Runner builds every DDP wrapper with
    ``device_ids=[LOCAL_RANK]``; DDP refuses ``device_ids`` for a module on
    the CPU. They are dropped here when the module's parameters are on the
    CPU and kept otherwise, so one config runs under ``gloo`` on CPUs and
    under NCCL on GPUs.
    """

    def __init__(self, module: nn.Module, device_ids=None, **kwargs) -> None:
        param = next(module.parameters(), None)
        if param is None or param.device.type == 'cpu':
            device_ids = None
            kwargs.pop('output_device', None)
        super().__init__(module=module, device_ids=device_ids, **kwargs)


def init_cpu_dist(launcher: str, dist_cfg: Optional[dict] = None) -> str:
    """Start the default process group on a machine without CUDA.

    Only the ``pytorch`` launcher (``torchrun``, which sets ``RANK``,
    ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``) is supported here.
    The backend is ``gloo`` unless ``dist_cfg`` names another CPU backend
    (``nccl`` needs CUDA and is replaced). Returns the backend used.
    """
    if launcher != 'pytorch':
        raise RuntimeError(
            f'launcher {launcher!r} without CUDA: mmkd starts CPU processes '
            'only through torchrun; use `--launcher pytorch` (as '
            'tools/dist_train.sh does)')
    missing = [
        k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
        if k not in os.environ
    ]
    if missing:
        raise RuntimeError(
            f'--launcher pytorch needs the environment torchrun sets; '
            f'{", ".join(missing)} not set. Start with `bash '
            'tools/dist_train.sh CONFIG NUM_PROCESSES` (or torchrun).')
    kwargs = dict(dist_cfg or {})
    backend = kwargs.pop('backend', None)
    if backend in (None, 'nccl'):
        backend = 'gloo'
    torch_dist.init_process_group(backend=backend,
                                  rank=int(os.environ['RANK']),
                                  world_size=int(os.environ['WORLD_SIZE']),
                                  **kwargs)
    return backend


def check_distributed(model: nn.Module) -> None:
    """Refuse, before anything is trained, a distiller that cannot train in
    several processes (its ``SUPPORTS_DISTRIBUTED``), with its reason."""
    if model.SUPPORTS_DISTRIBUTED:
        return
    raise RuntimeError(
        f'{type(model).__name__} trains in one process only: '
        f'{model.DISTRIBUTED_UNSUPPORTED} Start it without a launcher '
        '(python tools/train.py CONFIG), not with tools/dist_train.sh or '
        '--launcher pytorch/slurm/mpi.')


@RUNNERS.register_module()
class DistillRunner(Runner):
    """mmengine's Runner, plus the distillation hooks and a distributed
    start-up that runs with or without CUDA (see the module docstring).

    Any model trains with it; for a non-distiller only the distributed
    start-up differs from mmengine's Runner.
    """

    def setup_env(self, env_cfg: Dict) -> None:
        if self.distributed and not is_distributed() and \
                not torch.cuda.is_available():
            init_cpu_dist(self.launcher, env_cfg.get('dist_cfg'))
        super().setup_env(env_cfg)

    def wrap_model(self, model_wrapper_cfg: Optional[Dict],
                   model: nn.Module) -> nn.Module:
        if self.distributed and is_distiller(model):
            check_distributed(unwrap_model(model))
        if self.distributed and not is_model_wrapper(model):
            model_wrapper_cfg = self._ddp_cfg(model_wrapper_cfg, model)
        return super().wrap_model(model_wrapper_cfg, model)

    def _ddp_cfg(self, model_wrapper_cfg: Optional[Dict],
                 model: nn.Module) -> Optional[Dict]:
        """mmengine's default DDP -> :class:`MMKDDistributedDataParallel`
        with the same arguments; other wrappers are left alone."""
        if model_wrapper_cfg is None:
            # what mmengine builds when no wrapper is configured
            wrapper = dict(broadcast_buffers=False)
            fup = self.cfg.get('find_unused_parameters', None)
            if fup is not None:
                wrapper['find_unused_parameters'] = fup
        else:
            wrapper = dict(model_wrapper_cfg)
            kind = wrapper.get('type', _DEFAULT_DDP[0])
            if kind is not MMDistributedDataParallel and \
                    kind not in _DEFAULT_DDP:
                return model_wrapper_cfg
        wrapper['type'] = _WRAPPER
        if 'find_unused_parameters' not in wrapper and is_distiller(model):
            wrapper['find_unused_parameters'] = True
        return wrapper

    def train(self) -> nn.Module:
        # mmdet's/mmseg's tools/train.py and `mim train` come here without
        # mmkd's prepare_train_cfg: the student's pretrained weights are
        # checked before init_weights would fail on them
        check_run_pretrained(self.cfg)
        return super().train()

    def register_hooks(
            self, default_hooks: Optional[Dict[str, Union[Hook, Dict]]] = None,
            custom_hooks: Optional[List[Union[Hook, Dict]]] = None) -> None:
        custom_hooks = with_mmkd_hooks(custom_hooks,
                                       distiller=is_distiller(self.model),
                                       options=hook_options(self.cfg))
        super().register_hooks(default_hooks, custom_hooks)
