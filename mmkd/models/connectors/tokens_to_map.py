# Copyright (c) mmkd contributors. All rights reserved.
"""Transformer tokens as a feature map (:class:`TokensToMap`), the grid
accepted only when it can be the input's."""
import math
from fractions import Fraction
from typing import List, Optional, Sequence, Tuple

from torch import Tensor

from mmkd.registry import MODELS
from .base import BaseConnector

Grid = Tuple[int, int]
Interval = Tuple[Fraction, Optional[Fraction]]  # open; None: unbounded
#: the most leading non-grid tokens an error message looks for (a ViT's
#: class token: 1; DeiT's class and distillation tokens: 2; a ViT with
#: registers: 1 + 4)
MAX_EXTRA_HINT = 8
_FIXES = ('set grid=(H, W), aspect_ratio=W/H of the input, or '
          'num_extra_tokens=<leading class/distillation tokens> in the '
          'TokensToMap')


def _grid_factors(count: int):
    """Every (H, W) with H x W == count."""
    for h in range(1, math.isqrt(count) + 1):
        if count % h == 0:
            yield h, count // h
            if h != count // h:
                yield count // h, h


def aspect_ranges(h: int, w: int) -> List[Interval]:
    """The open intervals of input aspects W / H that give an ``h x w``
    grid: the input spans ``x`` cells in height and ``y`` in width, both
    rounded the same way, up (``h - 1 < x <= h``: stride-2 convolutions,
    padding patch embeddings) or down (``h <= x < h + 1``: unpadded
    patches). ``None`` as an upper end: unbounded."""
    up = (Fraction(w - 1, h), None if h == 1 else Fraction(w, h - 1))
    down = (Fraction(w, h + 1), Fraction(w + 1, h))
    return [up, down]


def _overlap(a: Interval, b: Interval) -> bool:
    return (b[1] is None or a[0] < b[1]) and (a[1] is None or b[0] < a[1])


def fits_aspect(grid: Grid, aspect: Fraction) -> bool:
    """Whether an input of W / H ``aspect`` can give ``grid``."""
    return any(lo < aspect and (hi is None or aspect < hi)
               for lo, hi in aspect_ranges(*grid))


def same_image(grid: Grid, target: Grid) -> bool:
    """Whether ``grid`` and ``target`` can be the same input at two strides,
    i.e. ``target`` scaled by one factor, each within one cell of
    rounding: some :func:`aspect_ranges` intervals of the two overlap."""
    return any(
        _overlap(a, b) for a in aspect_ranges(*grid)
        for b in aspect_ranges(*target))


def _closeness(grid: Grid, aspect: Fraction, landscape: bool):
    """Sort key: how far ``grid``'s W / H is from ``aspect`` (as a ratio
    >= 1, exact), then whether it has the other orientation."""
    h, w = grid
    ratio = Fraction(w, h) / aspect
    return max(ratio, 1 / ratio), (h <= w) != landscape


def closest_grid(cells: int, aspect: Fraction, landscape: bool,
                 accept) -> Tuple[Grid, bool]:
    """The factorisation ``H x W == cells`` whose W / H is closest to
    ``aspect`` among those ``accept(grid)`` admits (ties go to the
    orientation ``landscape``: H <= W), and whether one was admitted
    (False: the closest of all, for the message)."""
    grids = sorted(
        _grid_factors(cells), key=lambda g: _closeness(g, aspect, landscape))
    admitted = [g for g in grids if accept(g)]
    return (admitted[0], True) if admitted else (grids[0], False)


@MODELS.register_module()
class TokensToMap(BaseConnector):
    """A transformer's token sequence as a feature map: B x N x C tokens
    (batch first, as mmdet's Swin and mmseg's ViT / MiT layers give them)
    become a B x C x H x W map for the dense losses (no parameters).

    The first ``num_extra_tokens`` tokens (a ViT's class token: 1; DeiT's
    class and distillation tokens: 2) are not grid cells and are dropped;
    the other N' tokens are the cells of the H x W patch grid in row-major
    order (``map[b, c, i, j] = tokens[b, extra + i * W + j, c]``). The grid
    is, in this order of precedence:

    - ``grid=(H, W)``, fixed;
    - ``aspect_ratio=W/H`` of the input: the factorisation H x W == N'
      closest to it whose sides can be the input's rounded to whole
      cells, both up or both down (:func:`aspect_ranges`): ``(W - 1) / H
      < aspect_ratio < W / (H - 1)`` or ``W / (H + 1) < aspect_ratio <
      (W + 1) / H`` (an 800 x 1333 image: 200 x 334 at stride 4, 50 x 84
      at stride 16);
    - the aspect of ``target_size`` when the distiller passes one (the
      other side's map, of the same image at any stride): the
      factorisation closest to it among those that are the target grid
      scaled by one factor, each within one cell of rounding (an aspect
      interval of the one overlaps one of the other's); of a grid and its
      transpose (a near-square grid against a square map) the target's
      orientation wins, landscape (H <= W) for a square target;
    - square (N' must be a perfect square).

    Anything else is an error, never a guess: it names the token count, the
    closest grid and, when N minus k tokens (k <= :data:`MAX_EXTRA_HINT`)
    form an accepted grid, ``num_extra_tokens=k``. A map (4-D input) is an
    error, not passed through: the entry then needs no token alignment.

    Args:
        num_extra_tokens (int): leading non-grid tokens. Defaults to 0.
        grid (tuple[int, int], optional): fixed (H, W). Defaults to None.
        aspect_ratio (float, optional): W / H of the input. Defaults to
            None.
    """

    def __init__(self, num_extra_tokens: int = 0,
                 grid: Optional[Sequence[int]] = None,
                 aspect_ratio: Optional[float] = None) -> None:
        super().__init__()
        if not isinstance(num_extra_tokens, int) or isinstance(
                num_extra_tokens, bool) or num_extra_tokens < 0:
            raise ValueError('TokensToMap: num_extra_tokens must be an int '
                             f'>= 0, got {num_extra_tokens!r}')
        if grid is not None:
            grid = tuple(grid)
            if len(grid) != 2 or not all(
                    isinstance(v, int) and v > 0 for v in grid):
                raise ValueError('TokensToMap: grid must be (H, W) of '
                                 f'positive ints, got {grid!r}')
        if aspect_ratio is not None and not (isinstance(
                aspect_ratio, (int, float)) and math.isfinite(aspect_ratio)
                                             and aspect_ratio > 0):
            raise ValueError('TokensToMap: aspect_ratio (W / H) must be a '
                             f'finite number > 0, got {aspect_ratio!r}')
        self.num_extra_tokens = num_extra_tokens
        self.grid = grid
        self.aspect_ratio = aspect_ratio

    def _fit(self, cells: int,
             target_size: Optional[Sequence[int]]) -> Tuple[Grid, str]:
        """The grid of ``cells`` grid tokens, and ``''``; or the closest
        one and what it fails (for the message)."""
        if self.grid is not None:
            if self.grid[0] * self.grid[1] == cells:
                return self.grid, ''
            return self.grid, (f'do not fill grid={self.grid}, which has '
                               f'{self.grid[0] * self.grid[1]} cells')
        if self.aspect_ratio is not None:
            aspect = Fraction(self.aspect_ratio)
            grid, ok = closest_grid(cells, aspect, aspect >= 1,
                                    lambda g: fits_aspect(g, aspect))
            return grid, '' if ok else (
                f'do not form a grid of aspect_ratio={self.aspect_ratio} '
                f'(W / H) within one cell of rounding (closest: '
                f'{grid[0]} x {grid[1]})')
        if target_size is not None:
            target = (int(target_size[0]), int(target_size[1]))
            grid, ok = closest_grid(cells, Fraction(target[1], target[0]),
                                    target[0] <= target[1],
                                    lambda g: same_image(g, target))
            return grid, '' if ok else (
                f'do not form a grid of the aspect of the other side\'s map '
                f'{target} (closest: {grid[0]} x {grid[1]}, not {target} '
                'scaled by one factor within one cell of rounding)')
        side = math.isqrt(cells)
        if side * side == cells:
            return (side, side), ''
        return (side, side), 'are not a square grid'

    def extra_tokens_hint(
        self, num_tokens: int, target_size: Optional[Sequence[int]] = None
    ) -> Optional[Tuple[int, Grid]]:
        """``(k, grid)`` for the fewest leading non-grid tokens k (at most
        :data:`MAX_EXTRA_HINT`, other than ``num_extra_tokens``) after
        which the tokens form an accepted grid; None when no k does."""
        for extra in range(min(MAX_EXTRA_HINT, num_tokens - 1) + 1):
            if extra != self.num_extra_tokens:
                grid, failure = self._fit(num_tokens - extra, target_size)
                if not failure:
                    return extra, grid
        return None

    def grid_for(self, num_tokens: int,
                 target_size: Optional[Sequence[int]] = None) -> Grid:
        """The (H, W) grid of ``num_tokens`` tokens (extra ones included).

        Raises:
            ValueError: naming the token count, the closest grid and the
                options that fix it (``num_extra_tokens=k`` when dropping
                k leading tokens leaves an accepted grid).
        """
        cells = num_tokens - self.num_extra_tokens
        if cells >= 1:
            grid, failure = self._fit(cells, target_size)
            if not failure:
                return grid
            problem = (f'{cells} grid tokens {failure} ({num_tokens} '
                       f'tokens, num_extra_tokens={self.num_extra_tokens})')
        else:
            problem = (f'{num_tokens} tokens, num_extra_tokens='
                       f'{self.num_extra_tokens}: no grid cells left')
        hint = self.extra_tokens_hint(num_tokens, target_size)
        if hint is not None:
            extra, (h, w) = hint
            count = (f'{num_tokens} - {extra} = {num_tokens - extra}'
                     if extra else f'all {num_tokens}')
            fix = (f'{count} tokens form a {h} x {w} grid: set '
                   f'num_extra_tokens={extra} (the leading class / '
                   'distillation / register tokens, which are no grid '
                   'cells), or ' + _FIXES)
        else:
            fix = _FIXES
        raise ValueError(f'TokensToMap: {problem}; {fix}')

    def forward(self, x: Tensor,
                target_size: Optional[Sequence[int]] = None) -> Tensor:
        if isinstance(x, Tensor) and x.dim() == 4:
            raise ValueError(
                f'TokensToMap takes B x N x C tokens, got a B x C x H x W '
                f'map {tuple(x.shape)}: this side needs no token alignment; '
                'remove the TokensToMap')
        self.check_input(x, 3, 'B x N x C tokens')
        h, w = self.grid_for(x.shape[1], target_size)
        cells = x[:, self.num_extra_tokens:]
        return cells.transpose(1, 2).reshape(x.shape[0], x.shape[2], h, w)
