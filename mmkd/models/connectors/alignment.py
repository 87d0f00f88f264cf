# Copyright (c) mmkd contributors. All rights reserved.
"""Alignment of a distill entry's student and teacher features.

A feature loss takes two tensors of one shape. Where a pair's features
differ in form (B x N x C tokens against B x C x H x W maps), spatial size
or channels, the entry aligns them: ``teacher_connector`` (no parameters:
:class:`TokensToMap`, :class:`ResizeConnector`) on the teacher's side,
``connector`` (a :class:`ConnectorChain` for several steps) on the
student's. :func:`check_aligned` stops a run whose features still differ,
in the pre-flight check before the first iteration, with the entry lines
that fix it (:func:`alignment_hint`).
"""
from typing import List, Sequence, Tuple

from torch import Tensor

_TOKENS = "dict(type='mmkd.TokensToMap')"
_RESIZE = "dict(type='mmkd.ResizeConnector')"


def _form(shape: Sequence[int]) -> str:
    return {
        2: 'B x D vectors',
        3: 'B x N x C tokens',
        4: 'B x C x H x W maps'
    }.get(len(shape), f'{len(shape)}-D tensors')


def _student_line(steps: List[str]) -> str:
    if len(steps) == 1:
        return f'connector={steps[0]}'
    return ("connector=dict(type='mmkd.ConnectorChain', connectors=[" +
            ', '.join(steps) + '])')


def alignment_hint(student_shape: Sequence[int],
                   teacher_shape: Sequence[int]) -> str:
    """The entry lines that align a student feature of ``student_shape`` to
    a teacher feature of ``teacher_shape`` (both as recorded, before any
    connector), as text for an error message."""
    s, t = tuple(student_shape), tuple(teacher_shape)
    if s[0] != t[0]:
        return ('the batch sizes differ: point the entry at modules that run '
                'on the same images')
    if len(s) == len(t) == 2:
        return (f"connector=dict(type='mmkd.LinearConnector', "
                f'in_features={s[1]}, out_features={t[1]})')
    if len(s) not in (3, 4) or len(t) not in (3, 4):
        return (f'no connector maps {_form(s)} to {_form(t)}: point the '
                'entry at modules of the same form')
    teacher_lines, steps = [], []
    if len(t) == 3:
        teacher_lines.append(f'teacher_connector={_TOKENS}')
    if len(s) == 3:
        steps.append(_TOKENS)
    s_channels = s[2] if len(s) == 3 else s[1]
    t_channels = t[2] if len(t) == 3 else t[1]
    resize_note = ''
    if len(s) == 4 and len(t) == 4 and s[2:] != t[2:]:
        steps.append(_RESIZE)
        resize_note = (
            ' (ResizeConnector resizes the student to the teacher\'s H x W; '
            f'teacher_connector={_RESIZE} resizes the teacher to the '
            "student's instead; levels of equal stride can be paired with "
            'student_index=[...], teacher_index=[...], student level i with '
            'teacher level j)')
    elif len(s) == 3 or len(t) == 3:
        steps.append(_RESIZE)  # the grids' sizes are not known here
    if s_channels != t_channels:
        steps.append(f"dict(type='mmkd.ConvConnector', in_channels="
                     f'{s_channels}, out_channels={t_channels})')
    lines = teacher_lines + ([_student_line(steps)] if steps else [])
    if not lines:
        return 'the shapes agree'
    return ', '.join(lines) + resize_note


def check_aligned(where: str, student_raw: Tuple[int, ...],
                  teacher_raw: Tuple[int, ...], student: Tensor,
                  teacher: Tensor, aligned_by: str = '') -> None:
    """Raise when the features a loss gets (``student``, ``teacher``, after
    the entry's connectors) differ in shape; ``*_raw`` are the recorded
    shapes, ``aligned_by`` names the entry's connectors (empty: none).

    Raises:
        ValueError: naming ``where`` (entry and level), the shapes and the
            entry lines that align them.
    """
    if tuple(student.shape) == tuple(teacher.shape):
        return
    after = (f', after its {aligned_by}: student {tuple(student.shape)}, '
             f'teacher {tuple(teacher.shape)}' if aligned_by else '')
    raise ValueError(
        f'{where}: the student feature {tuple(student_raw)} '
        f'({_form(student_raw)}) and the teacher feature '
        f'{tuple(teacher_raw)} ({_form(teacher_raw)}) differ{after}. '
        'Align them in the distill entry: '
        f'{alignment_hint(student_raw, teacher_raw)}.')
