# Copyright (c) mmkd contributors. All rights reserved.
import math
from typing import Optional, Sequence, Tuple

from torch import Tensor

from mmkd.registry import MODELS
from .base import BaseConnector


def _grid_factors(count: int):
    """Every (H, W) with H x W == count."""
    for h in range(1, math.isqrt(count) + 1):
        if count % h == 0:
            yield h, count // h
            if h != count // h:
                yield count // h, h


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
    - ``aspect_ratio=W/H``: H = sqrt(N' / ratio), which must give
      H x W == N' exactly;
    - the aspect of ``target_size`` when the distiller passes one (the
      other side's feature map, of the same image): the factorisation
      H x W == N' closest to it, within a factor 1.5;
    - square (N' must be a perfect square).

    A map (4-D input) is an error, not passed through: the entry then needs
    no token alignment.

    Args:
        num_extra_tokens (int): leading non-grid tokens. Defaults to 0.
        grid (tuple[int, int], optional): fixed (H, W). Defaults to None.
        aspect_ratio (float, optional): W / H of the grid. Defaults to None.
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
        if aspect_ratio is not None and not aspect_ratio > 0:
            raise ValueError('TokensToMap: aspect_ratio (W / H) must be > 0, '
                             f'got {aspect_ratio!r}')
        self.num_extra_tokens = num_extra_tokens
        self.grid = grid
        self.aspect_ratio = aspect_ratio

    def grid_for(
            self, num_tokens: int,
            target_size: Optional[Sequence[int]] = None) -> Tuple[int, int]:
        """The (H, W) grid of ``num_tokens`` tokens (extra ones included).

        Raises:
            ValueError: naming the token count and the options that fix it.
        """
        cells = num_tokens - self.num_extra_tokens
        fixes = ('set grid=(H, W), aspect_ratio=W/H of the input, or '
                 'num_extra_tokens=<leading class/distillation tokens> in '
                 'the TokensToMap')
        if cells < 1:
            raise ValueError(f'TokensToMap: {num_tokens} tokens, '
                             f'num_extra_tokens={self.num_extra_tokens}: no '
                             'grid cells left')
        if self.grid is not None:
            if self.grid[0] * self.grid[1] != cells:
                raise ValueError(
                    f'TokensToMap: grid={self.grid} has '
                    f'{self.grid[0] * self.grid[1]} cells but the input has '
                    f'{cells} grid tokens ({num_tokens} minus '
                    f'{self.num_extra_tokens} extra); {fixes}')
            return self.grid
        if self.aspect_ratio is not None:
            h = round(math.sqrt(cells / self.aspect_ratio))
            w = round(h * self.aspect_ratio)
            if h < 1 or h * w != cells:
                raise ValueError(
                    f'TokensToMap: {cells} grid tokens do not form a grid of '
                    f'aspect_ratio={self.aspect_ratio} (W / H); {fixes}')
            return h, w
        if target_size is not None:
            ratio = target_size[1] / target_size[0]
            h, w = min(
                _grid_factors(cells),
                key=lambda hw: abs(math.log(hw[1] / hw[0] / ratio)))
            if abs(math.log(w / h / ratio)) <= math.log(1.5):
                return h, w
            raise ValueError(
                f'TokensToMap: {cells} grid tokens form no grid of the '
                f'aspect of the other side\'s map {tuple(target_size)} '
                f'(closest: {h} x {w}); {fixes}')
        side = math.isqrt(cells)
        if side * side != cells:
            raise ValueError(
                f'TokensToMap: {cells} grid tokens ({num_tokens} minus '
                f'{self.num_extra_tokens} extra) are not a square grid; '
                f'{fixes}')
        return side, side

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
