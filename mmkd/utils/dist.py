# Copyright (c) mmkd contributors. All rights reserved.
"""Small cross-rank helpers (no-ops in a single process)."""
import builtins
import sys
from typing import Callable, Optional, TypeVar

import torch
from mmengine.dist import all_gather, all_gather_object, barrier, get_dist_info
from torch import Tensor

T = TypeVar('T')

_GOLDEN = 0x9E3779B97F4A7C15


def cat_across_ranks(rows: Optional[Tensor]) -> Optional[Tensor]:
    """The rows (dim 0) of ``rows`` of every rank, concatenated in rank
    order, on every rank.

    Ranks may hold different numbers of rows, or ``None`` (no rows; e.g. a
    rank that got no batch); the other dims and the dtype must agree.
    Returns ``None`` only when every rank passed ``None``.
    """
    _, world_size = get_dist_info()
    if world_size == 1:
        return rows
    mine = None if rows is None else (rows.shape[0], tuple(rows.shape[1:]),
                                      str(rows.dtype))
    metas = all_gather_object(mine)
    known = [m for m in metas if m is not None]
    if not known:
        return None
    if any(m[1:] != known[0][1:] for m in known):
        raise ValueError('cat_across_ranks: the ranks hold rows of different '
                         f'shapes or dtypes: {known}')
    trailing, dtype = known[0][1], getattr(torch, known[0][2].split('.')[-1])
    if rows is None:
        rows = torch.zeros((0, ) + trailing, dtype=dtype)
    counts = [0 if m is None else m[0] for m in metas]
    padded = rows.new_zeros((max(counts), ) + trailing)
    padded[:rows.shape[0]] = rows
    gathered = all_gather(padded)
    return torch.cat([g[:n] for g, n in zip(gathered, counts)])


def decorrelate_across_ranks(gen: torch.Generator) -> torch.Generator:
    """Re-seed ``gen`` on ranks > 0 so that each rank draws its own stream.

    Rank 0 (and a single process) keeps ``gen`` as it is; rank ``r > 0``
    seeds it from one draw of ``gen`` mixed with ``r``: deterministic for a
    given seed and rank, different between ranks.
    """
    rank, _ = get_dist_info()
    if rank == 0:
        return gen
    draw = int(
        torch.randint(0, 2**62, (1, ), generator=gen,
                      device=gen.device).item())
    gen.manual_seed((draw * _GOLDEN + rank) % 2**63)
    return gen


def run_on_all_ranks(fn: Callable[[], T]) -> T:
    """Run ``fn`` on every rank; if it raises on any rank, raise on every
    rank, with the message of the lowest failing rank.

    A rank that failed re-raises its own exception when its message is that
    one; the others raise an exception of the same built-in type (else
    ``RuntimeError``) with the same message, so a bad config stops every
    process with one message instead of leaving some waiting in a
    collective. Before raising, every rank prints ``Type: message`` to
    stderr and waits for the others, so each process's output says it.
    """
    _, world_size = get_dist_info()
    if world_size == 1:
        return fn()
    error, result = None, None
    try:
        result = fn()
    except Exception as err:  # noqa: BLE001  (re-raised below)
        error = err
    mine = None if error is None else (type(error).__name__, str(error))
    failures = [f for f in all_gather_object(mine) if f is not None]
    if not failures:
        return result
    name, message = failures[0]
    # every rank says it before any rank exits: a launcher such as torchrun
    # ends the other processes as soon as one exits, often before their
    # tracebacks are printed
    print(f'{name}: {message}', file=sys.stderr, flush=True)
    barrier()
    if error is not None and str(error) == message:
        raise error
    cls = getattr(builtins, name, None)
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        cls = RuntimeError
    raise cls(message) from error
