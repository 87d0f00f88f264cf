# Copyright (c) mmkd contributors. All rights reserved.
"""``--amp`` on a machine without CUDA: bf16 autocast on the CPU."""
from typing import Union

import torch
from mmengine.optim import AmpOptimWrapper, OptimWrapper

from mmkd.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class CPUAmpOptimWrapper(AmpOptimWrapper):
    """mmengine's :class:`~mmengine.optim.AmpOptimWrapper` for CPU runs.

    mmengine's wrapper refuses a machine without an accelerator, although
    its ``autocast`` runs on the CPU (in bfloat16, the only dtype it allows
    there). This one takes the CPU: the forward runs under bf16 autocast
    (``optim_context`` is mmengine's), and since bfloat16 has float32's
    exponent range its gradients do not underflow, so there is no loss
    scaling (the scaler is a disabled ``torch.amp.GradScaler``, which
    passes the loss and the step through). mmkd's ``tools/train.py --amp``
    picks it when CUDA is not available; on a GPU it picks mmengine's.

    Args:
        dtype (str | torch.dtype): ``'bfloat16'`` (default; the CPU
            autocast dtype).
        **kwargs: the arguments of :class:`~mmengine.optim.OptimWrapper`
            (``optimizer``, ``accumulative_counts``, ``clip_grad``).
    """

    def __init__(self, dtype: Union[str, torch.dtype] = 'bfloat16',
                 loss_scale=None, **kwargs) -> None:
        if isinstance(dtype, str):
            dtype = getattr(torch, dtype, None)
        if dtype != torch.bfloat16:
            raise ValueError(
                f'CPUAmpOptimWrapper: dtype={dtype!r}; CPU autocast runs in '
                "bfloat16 only (mmengine's autocast), use dtype='bfloat16'")
        if loss_scale not in (None, 'dynamic'):
            raise ValueError(
                f'CPUAmpOptimWrapper: loss_scale={loss_scale!r}; bfloat16 '
                'needs no loss scaling, leave it out')
        OptimWrapper.__init__(self, **kwargs)
        self._scale_update_param = None
        self.loss_scaler = torch.amp.GradScaler('cpu', enabled=False)
        self.cast_dtype = dtype


__all__ = ['CPUAmpOptimWrapper']
