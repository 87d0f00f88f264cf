# Copyright (c) mmkd contributors. All rights reserved.
"""Compiling a frozen teacher's backbone with ``torch.compile``."""
from typing import Callable, Dict, Iterable, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.logging import print_log

from mmkd.models.recording.recorder import iter_tensors
from mmkd.utils.torch_private import inductor_freezing

COMPILED_MODULE = 'backbone'


class CompiledForward:
    """Stands in for a teacher module's ``forward``: the module's own
    forward compiled by ``torch.compile`` (inductor with ``freezing``: the
    frozen weights become constants, BatchNorms fold, convolutions get
    prepacked weights and fused activations), one compilation per device
    and weight dtype, made on the first call there. Recompilations for new
    input shapes are ``torch.compile``'s own (after the second size it
    compiles for dynamic shapes). If compiling or running the
    compiled code fails (e.g. no C++ compiler), it says so once and runs
    the eager forward from then on, which gives the same values. Where
    inductor's configuration is unavailable (:mod:`mmkd.utils.
    torch_private`) it compiles without ``freezing``.
    """

    def __init__(self, module: nn.Module, name: str) -> None:
        self.eager = module.forward
        self.name = name
        self.param = next(module.parameters(), None)
        self.compiled: Dict[Tuple, Callable] = {}
        self.failed = False

    def _key(self, args, kwargs) -> Tuple:
        tensor = next(iter_tensors((args, kwargs)), None)
        device = tensor.device if tensor is not None else None
        dtype = self.param.dtype if self.param is not None else None
        return device, dtype

    def __call__(self, *args, **kwargs):
        if self.failed:
            return self.eager(*args, **kwargs)
        key = self._key(args, kwargs)
        fn = self.compiled.get(key)
        if fn is None:
            print_log(
                f"teacher_exec: compiling the teacher's {self.name} "
                f'for {key[0]} (torch.compile, once per device and '
                'input shape)', logger='current')
            fn = torch.compile(self.eager)
            self.compiled[key] = fn
        try:
            # compilations happen inside calls (recompilations for new
            # shapes too); inductor reads `freezing` there (the `options`
            # of torch.compile do not reach it: measured no faster)
            with inductor_freezing():
                return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - any failure: run eager
            self.failed = True
            print_log(
                f"teacher_exec: compiling the teacher's {self.name} "
                f'failed ({type(exc).__name__}: {exc}); running it '
                'eagerly (same values)', logger='current', level=30)
            return self.eager(*args, **kwargs)


def compile_backbone(
    teacher: nn.Module, keep: Iterable[str] = ()) -> Optional[CompiledForward]:
    """Put a :class:`CompiledForward` on ``teacher.backbone``, unless the
    teacher has none or a path in ``keep`` (the recorded modules, whose
    forward hooks must run) lies inside it. Returns it, or None."""
    backbone = getattr(teacher, COMPILED_MODULE, None)
    if not isinstance(backbone, nn.Module):
        print_log(
            'teacher_exec: compile=True, but the teacher has no '
            f'`{COMPILED_MODULE}`; running it eagerly', logger='current',
            level=30)
        return None
    inside = [
        p for p in keep
        if p == COMPILED_MODULE or p.startswith(COMPILED_MODULE + '.')
    ]
    if inside:
        print_log(
            f"teacher_exec: compile=True, but {sorted(inside)} are "
            f"recorded inside the teacher's {COMPILED_MODULE}; "
            'running it eagerly', logger='current', level=30)
        return None
    compiled = CompiledForward(backbone, COMPILED_MODULE)
    backbone.forward = compiled
    return compiled


__all__ = ['CompiledForward', 'compile_backbone']
