# Copyright (c) mmkd contributors. All rights reserved.
"""Recorded outputs as levels: one tensor per level of a distill entry,
from the outputs a recorder kept for one module (a tensor, a tuple of FPN
levels, or one output per call of a shared head)."""
from typing import List, Optional, Sequence, Union

from torch import Tensor


def _select(out, index: Union[int, Sequence[int]], where: str) -> list:
    """The element(s) ``index`` of one recorded tuple/list output."""
    if not isinstance(out, (tuple, list)):
        raise TypeError(f'{where}: `*_index` was given but the '
                        f'module outputs a {type(out).__name__}')
    indices = [index] if isinstance(index, int) else list(index)
    bad = [
        i for i in indices
        if not isinstance(i, int) or not -len(out) <= i < len(out)
    ]
    if bad:
        raise IndexError(
            f'{where}: index {bad} is past the end of the module\'s output, '
            f'a {type(out).__name__} of {len(out)} elements; set '
            f'`student_index`/`teacher_index` to an int or a list of ints in '
            f'0..{len(out) - 1} (e.g. [0, 1, 2, 3] for the first four FPN '
            'levels)')
    picked = [out[i] for i in indices]
    return picked[0] if isinstance(index, int) else picked


def split_levels(outputs: list, index: Optional[Union[int, Sequence[int]]],
                 where: str) -> List[Tensor]:
    """Turn the recorded outputs of one module into a list of tensors.

    ``outputs`` has one item per call of the module. Each item is a tensor or
    a tuple/list (FPN levels; ``index`` first selects one element of it, or
    several when it is a list, e.g. ``[0, 1, 2, 3]``). Several calls (a head
    shared over levels) become one level each.
    """
    levels: List[Tensor] = []
    for out in outputs:
        if index is not None:
            out = _select(out, index, where)
        if isinstance(out, Tensor):
            levels.append(out)
        elif isinstance(out, (tuple, list)) and all(
                isinstance(o, Tensor) for o in out):
            levels.extend(out)
        else:
            kinds = ([type(o).__name__ for o in out] if isinstance(
                out, (tuple, list)) else type(out).__name__)
            raise TypeError(
                f'{where}: the module outputs {kinds}, which cannot be split '
                'into tensors; select one element with student_index / '
                'teacher_index in the distill entry.')
    return levels
