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
from typing import List, Optional, Sequence, Tuple

from torch import Tensor

from .tokens_to_map import TokensToMap

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


def _tokens_line(
        shape: Tuple[int, ...],
        other: Tuple[int, ...]) -> Tuple[str, Optional[Tuple[int, int]], str]:
    """For a feature of ``shape`` paired with one of ``other``: the
    TokensToMap it needs ('' for a map), its H x W after it (None where
    unknown) and a note for the message. Tokens against a map get the grid
    TokensToMap would take against that map, with ``num_extra_tokens=k``
    when only dropping k leading tokens gives one."""
    if len(shape) == 4:
        return '', tuple(shape[2:]), ''
    if len(other) != 4:
        return _TOKENS, None, ''
    target = tuple(other[2:])
    tokens = TokensToMap()
    try:
        return _TOKENS, tokens.grid_for(shape[1], target), ''
    except ValueError:
        pass
    hint = tokens.extra_tokens_hint(shape[1], target)
    if hint is not None:
        extra, grid = hint
        return (f"dict(type='mmkd.TokensToMap', num_extra_tokens={extra})",
                grid, '')
    return _TOKENS, None, (
        f' ({shape[1]} tokens form no grid of the aspect of the {target} '
        'map: give the TokensToMap grid=(H, W) or aspect_ratio=W/H)')


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
    t_tokens, t_size, t_note = _tokens_line(t, s)
    s_tokens, s_size, s_note = _tokens_line(s, t)
    if t_tokens:
        teacher_lines.append(f'teacher_connector={t_tokens}')
    if s_tokens:
        steps.append(s_tokens)
    s_channels = s[2] if len(s) == 3 else s[1]
    t_channels = t[2] if len(t) == 3 else t[1]
    resize_note = t_note + s_note
    if s_size is None or t_size is None or s_size != t_size:
        steps.append(_RESIZE)  # None: a token grid's size is not known
    if len(s) == 4 and len(t) == 4 and s_size != t_size:
        resize_note += (
            ' (ResizeConnector resizes the student to the teacher\'s H x W; '
            f'teacher_connector={_RESIZE} resizes the teacher to the '
            "student's instead; levels of equal stride can be paired with "
            'student_index=[...], teacher_index=[...], student level i with '
            'teacher level j)')
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
