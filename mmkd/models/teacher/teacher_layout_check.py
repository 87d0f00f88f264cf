# Copyright (c) mmkd contributors. All rights reserved.
"""The pre-flight layout check: the channels-last teacher's recorded
outputs against the NCHW teacher's, on one real batch.

The layout plan (:mod:`~mmkd.models.teacher.teacher_layout`) reads code,
which cannot see everything a ``forward`` may reach. This check looks at
values instead. Before the first iteration
(:class:`~mmkd.engine.hooks.DistillCheckHook`) the teacher runs twice on
the first training batch: as it is set up (channels-last outside its
boundaries) and as the NCHW teacher (the same weights made contiguous, the
input contiguous), both in fp32 with autocast and TF32 off, the compiled
backbone run eagerly, and with the same random draws (a relayed input
comes from the student's pass, whose RoI sampling draws random numbers).
Only the layout differs between the two runs.

**What it compares**: every tensor the distill entries record from the
teacher, i.e. what the losses see.

**Tolerance**: :data:`LAYOUT_TOLERANCE`, relative to the feature's norm
(``||got - want|| <= 1e-3 ||want||`` per recorded tensor). The two runs
differ in summation order only, as float rounding, which scales with the
values: measured on the toy teachers (random weights, BatchNorm statistics
away from the identity) 2.3e-6 for RetinaNet's FPN levels, 6.8e-7 for its
class logits and 1.6e-6 for PSPNet's logits. An op that reads channels-last
memory as NCHW reads other elements: 1.3 to 1.4 measured on the toy
escapes of the tests (``tests/layout_escapes.py``). 1e-3 is some 400 times
the rounding and a thousandth of a misread. (A feature dominated by one
common offset, e.g. the class logits of an untrained head, shows a misread
only as a fraction of its spread and can pass; a trained teacher's
features vary.)

**Where they differ**, or where only the channels-last teacher raises
(mmcv's ``DeformConv2d`` refuses channels-last tensors), the check finds
the module to blame: the two runs again, this time every module call's
tensor inputs and outputs fingerprinted (:class:`ModuleTrace`: the sum of
squares and three random projections, which estimate the norm of a
difference without keeping the tensors). In call order, the first output
that differs while the module's inputs did not blames that module's own
code; the first input that differs blames the code of the module that
called it (or the teacher itself); an error blames the innermost module it
was raised in.
:meth:`~mmkd.models.teacher.teacher_execution.TeacherExecution.check_layout`
keeps that module (and the modules of its class) NCHW and checks again.

Cost: two teacher passes (and, with ``teacher_input_from_student``, two
student passes for the relayed input) once per run; four more per round
that finds something.
"""
import math
from functools import partial
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from torch import Tensor

from mmkd.models.recording.recorder import iter_tensors

#: the largest difference of a recorded tensor from the NCHW teacher's, as
#: a fraction of the tensor's norm, taken for float rounding
LAYOUT_TOLERANCE = 1e-3
#: random projections per fingerprinted tensor
NUM_PROJECTIONS = 3


def relative(difference: float, norm: float) -> float:
    """``difference / norm``; for a zero reference, 0 if there is no
    difference and infinity otherwise."""
    if norm > 0:
        return difference / norm
    return 0.0 if difference == 0 else math.inf


def tensor_difference(got: Tensor, want: Tensor) -> float:
    """``||got - want|| / ||want||`` over the finite elements,
    in float64; infinity where the shapes or the non-finite elements
    differ, or a non-float tensor differs at all."""
    if got.shape != want.shape:
        return math.inf
    if not want.is_floating_point():
        return 0.0 if torch.equal(got, want) else math.inf
    got, want = got.double(), want.double()
    finite = torch.isfinite(want)
    if not torch.equal(finite, torch.isfinite(got)):
        return math.inf
    got, want = got[finite], want[finite]
    return relative((got - want).norm().item(), want.norm().item())


def output_differences(got: Dict[str, list],
                       want: Dict[str, list]) -> Dict[str, float]:
    """``{recorded path: its largest tensor_difference}`` of two
    recordings (``{path: [output per call]}``)."""
    out = {}
    for path, outs in want.items():
        mine = list(iter_tensors(got.get(path)))
        theirs = list(iter_tensors(outs))
        out[path] = math.inf if len(mine) != len(theirs) else max(
            (tensor_difference(a, b)
             for a, b in zip(mine, theirs)), default=0.0)
    return out


def fingerprint(obj) -> List[Tuple[tuple, Tensor]]:
    """``(shape, values)`` per floating-point tensor in ``obj``: values
    are, in float64, the sum of squares, the number of non-finite elements
    and :data:`NUM_PROJECTIONS` projections on fixed random
    Gaussian tensors of the same shape (by logical position, whatever the
    memory layout; non-finite elements as 0)."""
    prints = []
    for t in iter_tensors(obj):
        if not t.is_floating_point():
            continue
        t64 = t.detach().double()
        bad = (~torch.isfinite(t64)).sum().double()
        t64 = torch.nan_to_num(t64, nan=0.0, posinf=0.0, neginf=0.0)
        gen = torch.Generator(device=t.device)
        values = [(t64 * t64).sum(), bad]
        for k in range(NUM_PROJECTIONS):
            gen.manual_seed(k)
            weight = torch.randn(t.shape, generator=gen, device=t.device,
                                 dtype=torch.float64)
            values.append((t64 * weight).sum())
        prints.append((tuple(t.shape), torch.stack(values).cpu()))
    return prints


def fingerprint_difference(got, want) -> float:
    """The difference of two :func:`fingerprint` s as
    :func:`tensor_difference` measures it, estimated from the projections
    (their differences have the norm of the tensors' difference as root
    mean square)."""
    if [shape for shape, _ in got] != [shape for shape, _ in want]:
        return math.inf
    worst = 0.0
    for (_, mine), (_, theirs) in zip(got, want):
        if mine[1] != theirs[1]:
            return math.inf
        diff = (mine[2:] - theirs[2:]).pow(2).mean().sqrt().item()
        worst = max(worst, relative(diff, theirs[0].sqrt().item()))
    return worst


class LayoutEscape(Exception):
    """Where a traced run first differed: the module to keep NCHW (``''``:
    the teacher) and why."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f'{path or "<teacher>"}: {reason}')
        self.path, self.reason = path, reason


def _traced_forward(trace: 'ModuleTrace', path: str, module: nn.Module,
                    forward, *args, **kwargs):
    """A module's forward while traced: fingerprints its inputs, runs
    ``forward`` (the module's own when None), fingerprints its output."""
    count = trace.calls[path] = trace.calls.get(path, -1) + 1
    caller = trace.stack[-1] if trace.stack else ''
    trace.event((path, 'in', count), caller, (args, kwargs))
    trace.stack.append(path)
    try:
        out = type(module).forward(module, *args, **kwargs) \
            if forward is None else forward(*args, **kwargs)
    except Exception as error:
        if not isinstance(error, LayoutEscape) and trace.raised_in is None:
            trace.raised_in = path  # the innermost module it left
        raise
    finally:
        trace.stack.pop()
    trace.event((path, 'out', count), path, out)
    return out


class ModuleTrace:
    """While active, fingerprints (:func:`fingerprint`) the tensor inputs
    and outputs of every call of every module of ``model``, in call order
    (through each module's ``forward``, so also calls of
    ``module.forward(...)``). Given the ``reference`` trace of another run,
    it compares on the fly instead and raises :class:`LayoutEscape` at the
    first call that differs by more than ``tolerance``."""

    def __init__(self, model: nn.Module,
                 reference: Optional['ModuleTrace'] = None,
                 tolerance: float = LAYOUT_TOLERANCE) -> None:
        self.model, self.reference, self.tolerance = model, reference, \
            tolerance
        self.prints: Dict[tuple, list] = {}
        self.calls: Dict[str, int] = {}
        self.stack: List[str] = []
        self.raised_in: Optional[str] = None
        self._saved: List[Tuple[nn.Module, object]] = []

    def __enter__(self) -> 'ModuleTrace':
        for path, module in self.model.named_modules():
            own = vars(module).get('forward')
            self._saved.append((module, own))
            module.forward = partial(_traced_forward, self, path, module, own)
        return self

    def __exit__(self, *exc) -> None:
        for module, own in self._saved:
            if own is None:
                del module.forward
            else:
                module.forward = own
        self._saved.clear()

    def event(self, key: tuple, blamed: str, obj) -> None:
        prints = fingerprint(obj)
        if self.reference is None:
            self.prints[key] = prints
            return
        want = self.reference.prints.get(key)
        diff = math.inf if want is None else fingerprint_difference(
            prints, want)
        if diff <= self.tolerance:
            return
        path, kind, count = key
        size = (f"by {diff:.2g} of the feature's norm"
                if diff < math.inf else 'in shape or in its non-finite values')
        if kind == 'out':
            raise LayoutEscape(
                blamed, f"its output (call {count + 1}) differed from the "
                f"NCHW teacher's {size}, its inputs did not")
        raise LayoutEscape(
            blamed, f'it gave {path or "<teacher>"} (call {count + 1}) an '
            f"input that differed from the NCHW teacher's {size}")


def find_layout_escape(
    model: nn.Module, run: Callable[[], Dict[str, list]], checking,
    tolerance: float = LAYOUT_TOLERANCE
) -> Tuple[float, Optional[LayoutEscape]]:
    """Compare the recorded outputs of ``run()`` (the teacher ``model``'s
    recorded outputs on the check batch) under ``checking(plain=False)``
    (the teacher as set up) and ``checking(plain=True)`` (the NCHW
    teacher). Returns the largest :func:`tensor_difference` and, where it
    exceeds ``tolerance`` or the teacher as set up raises where the NCHW
    teacher does not (mmcv's ``DeformConv2d`` refuses a channels-last
    input), the :class:`LayoutEscape` that blames a module (see the module
    docstring; the innermost module the error left); None where the
    outputs match. An error of the NCHW teacher itself is raised."""
    with checking(plain=True):
        want = run()
    try:
        with checking(plain=False):
            got = run()
    except Exception:  # noqa: BLE001 - located below
        got = None
    differences = {p: math.inf for p in want} if got is None else \
        output_differences(got, want)
    worst = max(differences.values(), default=0.0)
    if worst <= tolerance:
        return worst, None
    with checking(plain=True), ModuleTrace(model) as reference:
        run()
    trace = ModuleTrace(model, reference, tolerance)
    try:
        with checking(plain=False), trace:
            run()
    except LayoutEscape as escape:
        return worst, escape
    except Exception as error:  # noqa: BLE001 - what it says is kept
        first = (str(error).strip().splitlines() or [''])[0][:200]
        return worst, LayoutEscape(
            trace.raised_in or '', 'it raised on the tensors of the '
            f'channels-last teacher ({type(error).__name__}: {first}), '
            'the NCHW teacher did not')
    bad = sorted(p for p, d in differences.items() if d > tolerance)
    return worst, LayoutEscape(
        '', f"the recorded outputs of {bad} differed from the NCHW "
        f"teacher's by {worst:.2g} of their norm, in code outside any "
        'module')


__all__ = [
    'LAYOUT_TOLERANCE', 'LayoutEscape', 'ModuleTrace', 'find_layout_escape',
    'fingerprint', 'fingerprint_difference', 'output_differences',
    'tensor_difference'
]
