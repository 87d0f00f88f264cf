# Copyright (c) mmkd contributors. All rights reserved.
"""How the frozen teacher's forward runs: memory format, BatchNorm folding,
prepacked convolution weights, compilation and precision."""
from contextlib import contextmanager, nullcontext
from functools import partial
from typing import Callable, Dict, Iterable, Optional

import torch
import torch.nn as nn
from mmengine.logging import print_log
from torch import Tensor

from mmkd.models.recording.recorder import map_tensors
from .bn_folding import fold_batchnorm
from .conv_prepacking import prepack_conv_weights
from .teacher_compile import compile_backbone
from .teacher_layout import (apply_layout, describe_plan, inside,
                             make_boundary, nchw_weights, plan_layout)
from .teacher_layout_check import LAYOUT_TOLERANCE, find_layout_escape

MEMORY_FORMATS = ('auto', 'contiguous', 'channels_last')
#: rounds of the pre-flight layout check (each keeps one module and the
#: modules of its class NCHW) before it keeps the whole teacher NCHW
MAX_LAYOUT_ROUNDS = 4
PRECISIONS = ('auto', 'fp32', 'fp16', 'bf16')
_AUTOCAST_DTYPES = {'fp16': torch.float16, 'bf16': torch.bfloat16}


def _choice(name: str, value, allowed) -> str:
    if value not in allowed:
        raise ValueError(f'teacher_exec: {name}={value!r} is not one of '
                         f'{list(allowed)}')
    return value


def _flag(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f'teacher_exec: {name}={value!r} is not one of '
                         '[True, False]')
    return value


class TeacherExecution:
    """The teacher's execution options (``SingleTeacherDistiller``'s
    ``teacher_exec=dict(...)``). The teacher is frozen and only run forward
    under ``torch.no_grad``, so it can be run in whatever layout and
    precision is fastest, as long as the features the losses see are the
    plain teacher's:

    - ``memory_format``: ``'channels_last'`` stores the teacher's weights
      (and gives it its input) in NHWC, which oneDNN (CPU) and cuDNN (GPU)
      run faster for convolutions; values are the same up to float rounding
      (a different summation order). ``'auto'`` (default) picks it for a
      teacher with 2-D convolutions, ``'contiguous'`` otherwise. Either way
      channels-last reaches only the layers that take it: mmcv's ops (which
      read their input as NCHW), layers of unknown layout and modules fed
      from the student are *boundaries* that keep NCHW weights and get
      contiguous inputs (:mod:`~mmkd.models.teacher.teacher_layout`;
      decided at build time and logged once). Before the first iteration
      :meth:`check_layout` compares the recorded outputs with the NCHW
      teacher's on the first batch and keeps NCHW (with a warning naming
      it) any module where they differ beyond float rounding.
    - ``fold_batchnorm``: ``True`` (default) folds each eval-mode BatchNorm
      into the convolution that feeds it (see
      :mod:`~mmkd.models.teacher.bn_folding`: the same values up to
      float rounding, one pass over the feature map less per BatchNorm;
      the teacher's ``state_dict`` and parameters stay the checkpoint's),
      ``False`` runs the BatchNorms as they are.
    - ``prepack``: ``True`` (default) reorders each convolution's weight
      into oneDNN's layout once per input size, on its first CPU call,
      instead of on every call (see
      :mod:`~mmkd.models.teacher.conv_prepacking`: the same oneDNN
      kernels, the same values; a convolution whose input size keeps
      changing stops packing). It applies to a channels-last
      teacher (with NCHW inputs it measured slower) and takes effect in its
      float32 forwards on the CPU only: a no-op on a GPU and under half
      precision. ``False`` leaves the convolutions as they are.
    - ``compile``: ``True`` compiles the teacher's ``backbone`` with
      ``torch.compile`` (inductor, weights frozen as constants; see
      :mod:`~mmkd.models.teacher.teacher_compile`), unless a recorded
      module lies inside it; the values are the same up to float rounding.
      ``False`` (default), as mmengine's own ``compile``: the first
      iteration pays the compilation (15-30 s for a ResNet-50 on two CPU
      cores; the second and third input sizes compile again, for dynamic
      shapes), and on the CPU it measured about as fast as the eager
      defaults (1.43 x against 1.39 x the plain teacher at one fixed size;
      no faster than the eager teacher once its shapes are dynamic, as
      with COCO's keep-ratio resize). An option for fixed-size inputs.
    - ``precision``: ``'auto'`` (default) follows the run: the teacher runs
      in the autocast that surrounds it, i.e. in half precision under
      ``--amp`` (mmengine's ``AmpOptimWrapper``: the student runs in it
      too) and in fp32 otherwise. ``'fp32'`` runs the teacher in fp32 also
      inside an outer autocast (autocast switched off for its forward; on
      a GPU cuDNN's TF32 convolutions stay as torch's global
      ``torch.backends.cudnn.allow_tf32`` says, True by default).
      ``'fp16'`` / ``'bf16'`` run it under autocast of that type in every
      run. Half precision changes the features beyond float rounding
      (relative error of a feature map, measured on the toy RetinaNet:
      fp16 about 8e-4, bf16 6e-3 to 1e-2; the fp32 options about 1e-6),
      which is below what the student's own half-precision forward changes
      under ``--amp``; without ``--amp`` ``'auto'`` is fp32, so a fp32 run
      keeps the fp32 teacher. Its speed depends on the hardware: on a CPU
      with AVX512-BF16, bf16 autocast ran a ResNet-50 1.6 x faster than
      fp32, on one without it slower, and fp16 autocast on the CPU is far
      slower; on a GPU the tensor cores make both pay.

    Recorded teacher features are handed on in the student's dtype (its
    parameters' dtype; floats cast back from half precision) and
    contiguous, and the distiller computes every loss in that dtype with
    autocast off, so no loss reduces in half precision. ``torch.
    inference_mode`` is not offered: its tensors carry no version counter,
    which the recorder reads to keep recordings faithful, and it measured
    no faster than ``no_grad`` for the teacher's forward on the CPU.
    """

    def __init__(self, memory_format: str = 'auto',
                 fold_batchnorm: bool = True, prepack: bool = True,
                 compile: bool = False, precision: str = 'auto') -> None:
        self.memory_format = _choice('memory_format', memory_format,
                                     MEMORY_FORMATS)
        self.fold_batchnorm = _flag('fold_batchnorm', fold_batchnorm)
        self.prepack = _flag('prepack', prepack)
        self.compile = _flag('compile', compile)
        self.precision = _choice('precision', precision, PRECISIONS)
        self.channels_last = False
        self.boundaries: Dict[str, str] = {}
        self.num_folded = 0
        self.num_prepacked = 0
        self.compiled = None

    @classmethod
    def from_cfg(cls, cfg: Optional[dict]) -> 'TeacherExecution':
        cfg = dict(cfg or {})
        allowed = [
            'memory_format', 'fold_batchnorm', 'prepack', 'compile',
            'precision'
        ]
        unknown = set(cfg) - set(allowed)
        if unknown:
            raise ValueError(f'teacher_exec: unknown keys {sorted(unknown)}; '
                             f'allowed: {allowed}')
        return cls(**cfg)

    def prepare(
        self, teacher: nn.Module, keep: Iterable[str] = (),
        relayed: Iterable[str] = ()
    ) -> None:
        """Fold the teacher's BatchNorms, prepack its convolutions, compile
        its backbone and put its weights in the chosen layout, as chosen
        (once, at build time, after its checkpoint is loaded; device
        moves keep a tensor's layout). ``keep``: the recorded module paths,
        whose own outputs must stay as they are; ``relayed``: the modules
        given an argument from the student (layout boundaries)."""
        keep = list(keep)
        has_conv = any(isinstance(m, nn.Conv2d) for m in teacher.modules())
        self.channels_last = self.memory_format == 'channels_last' or (
            self.memory_format == 'auto' and has_conv)
        if self.fold_batchnorm:
            self.num_folded = fold_batchnorm(teacher, keep)
        if self.prepack and self.channels_last:
            self.num_prepacked = prepack_conv_weights(teacher)
        if self.compile:
            self.compiled = compile_backbone(teacher, keep)
        if self.channels_last:
            self.boundaries = plan_layout(teacher, relayed)
            apply_layout(teacher, self.boundaries)
        print_log(self.describe(), logger='current')

    @contextmanager
    def checking(self, teacher: nn.Module, plain: bool):
        """One run of the pre-flight layout check (:meth:`check_layout`):
        fp32 (autocast off; TF32 off on a GPU), a compiled backbone run
        eagerly, the random streams of the CPU and of the teacher's GPU
        forked (every run draws the same numbers); with ``plain`` as the
        NCHW teacher: every 4-D weight contiguous and the input as given.
        All as it was afterwards."""
        param = next(teacher.parameters(), None)
        device = param.device if param is not None else torch.device('cpu')
        cuda = device.type == 'cuda'
        tf32 = (torch.backends.cudnn.allow_tf32,
                torch.backends.cuda.matmul.allow_tf32) if cuda else None
        saved = (self.channels_last, self.precision)
        eager = self.compiled is not None and not self.compiled.failed
        try:
            if tf32 is not None:
                torch.backends.cudnn.allow_tf32 = False
                torch.backends.cuda.matmul.allow_tf32 = False
            if eager:  # CompiledForward runs the eager forward once failed
                self.compiled.failed = True
            self.precision = 'fp32'
            self.channels_last = self.channels_last and not plain
            with torch.random.fork_rng(devices=[device] if cuda else []), \
                    (nchw_weights(teacher) if plain else nullcontext()):
                yield
        finally:
            self.channels_last, self.precision = saved
            if eager:
                self.compiled.failed = False
            if tf32 is not None:
                torch.backends.cudnn.allow_tf32, \
                    torch.backends.cuda.matmul.allow_tf32 = tf32

    def check_layout(self, teacher: nn.Module,
                     run: Callable[[], Dict[str, list]]) -> Dict[str, str]:
        """The pre-flight layout check (see
        :mod:`~mmkd.models.teacher.teacher_layout_check`): ``run()`` returns
        the teacher's recorded outputs on one batch; where they differ from
        the NCHW teacher's beyond :data:`LAYOUT_TOLERANCE` (or the teacher
        raises where the NCHW one does not), the module to blame and every
        module of its class (the same code) are kept NCHW
        (:meth:`keep_nchw`, silently) and the check runs again; after
        :data:`MAX_LAYOUT_ROUNDS` rounds, or when a module already NCHW is
        blamed, the whole teacher. Returns ``{module path: reason}`` of the
        modules it kept NCHW (``''``: the teacher); ``{}`` for an NCHW
        teacher (nothing to compare)."""
        found: Dict[str, str] = {}
        if not self.channels_last or '' in self.boundaries:
            return found
        for rounds in range(MAX_LAYOUT_ROUNDS + 1):
            worst, escape = find_layout_escape(teacher, run,
                                               partial(self.checking, teacher))
            if escape is None:
                print_log(
                    'teacher execution: pre-flight layout check: the '
                    "recorded outputs match the NCHW teacher's (largest "
                    f"difference {worst:.2g} of a feature's norm, "
                    f'tolerance {LAYOUT_TOLERANCE:g})', logger='current')
                break
            if '' in self.boundaries:  # all NCHW: the runs themselves vary
                print_log(
                    "teacher execution: the NCHW teacher's outputs differ "
                    'between two runs on the same batch (by '
                    f'{worst:.2g} of their norm): not a matter of layout; '
                    'the teacher stays NCHW', logger='current', level=30)
                break
            path = escape.path
            if path and not inside(path, self.boundaries) and \
                    rounds < MAX_LAYOUT_ROUNDS:
                cls = type(teacher.get_submodule(path))
                new = {path: escape.reason}
                new.update((p, f'{cls.__name__} as {path} (the same code)')
                           for p, m in teacher.named_modules()
                           if type(m) is cls and p != path
                           and not inside(p, self.boundaries))
            else:
                new = {'': f'{path or "<teacher>"}: {escape.reason}'}
            self.keep_nchw(teacher, new)
            found.update(new)
        return found

    def keep_nchw(self, teacher: nn.Module, boundaries: Dict[str, str],
                  warn: bool = False) -> None:
        """Make the modules ``{path: reason}`` boundaries of the
        channels-last ``teacher`` (NCHW weights, contiguous inputs; again
        on a boundary does nothing); with ``warn``, say so in one warning
        naming them. A compiled backbone that one lies in compiles
        anew."""
        for path, reason in boundaries.items():
            if path in self.boundaries:
                continue
            make_boundary(teacher, path)
            self.boundaries[path] = reason
            if self.compiled is not None and (inside(path, ['backbone'])
                                              or inside('backbone', [path])):
                self.compiled.compiled.clear()
        if warn and boundaries:
            print_log(
                "teacher execution: the channels-last teacher's outputs "
                "differed from the NCHW teacher's on the first batch beyond "
                'float rounding (pre-flight layout check); kept NCHW with '
                f'contiguous inputs from now on: {describe_plan(boundaries)}',
                logger='current', level=30)

    def describe(self) -> str:
        """The decisions :meth:`prepare` took, in one line."""
        if not self.channels_last:
            layout = 'contiguous (NCHW)'
        elif self.boundaries:
            layout = (f'channels_last, except {len(self.boundaries)} '
                      'module(s) kept NCHW with contiguous inputs: '
                      f'{describe_plan(self.boundaries)}')
        else:
            layout = 'channels_last throughout'
        return (f'teacher execution: layout {layout}; {self.num_folded} '
                f'BatchNorm(s) folded; {self.num_prepacked} convolution(s) '
                f'prepacked; precision {self.precision!r}' +
                ('; backbone compiled' if self.compiled else ''))

    def inputs(self, inputs):
        """The batch as the teacher takes it (NHWC for a channels-last
        teacher; other inputs are passed on unchanged)."""
        if self.channels_last and isinstance(inputs, Tensor) and \
                inputs.dim() == 4:
            return inputs.contiguous(memory_format=torch.channels_last)
        return inputs

    @contextmanager
    def running(self, device: torch.device):
        """The context of the teacher's forward: ``no_grad``, and the
        autocast of :attr:`precision` (``'auto'``: whatever surrounds it;
        ``'fp32'``: none, also inside an outer autocast)."""
        if self.precision == 'auto':
            autocast = nullcontext()
        elif self.precision == 'fp32':
            autocast = torch.autocast(device_type=device.type, enabled=False)
        else:
            autocast = torch.autocast(device_type=device.type,
                                      dtype=_AUTOCAST_DTYPES[self.precision])
        with torch.no_grad(), autocast:
            yield

    def outputs(self, recorded: Dict[str, list],
                dtype: torch.dtype) -> Dict[str, list]:
        """Recorded features as the losses take them: in ``dtype`` (the
        student's; floats cast back from half precision) and in the default
        (contiguous) layout, which the student's features have (a loss on
        mixed layouts measured slower than the copy)."""

        def convert(t: Tensor) -> Tensor:
            if t.is_floating_point() and t.dtype != dtype:
                t = t.to(dtype)
            return t.contiguous()

        return {
            path: [map_tensors(out, convert) for out in outs]
            for path, outs in recorded.items()
        }


__all__ = ['TeacherExecution', 'MEMORY_FORMATS', 'PRECISIONS']
