# Copyright (c) mmkd contributors. All rights reserved.
"""How one distill entry combines the same module of several teachers."""
from typing import Callable, Dict, List, Tuple, Union

import torch
from torch import Tensor

ENSEMBLE_MODES = ('mean', 'uncertainty')


class TeacherEnsemble:
    """The target of a distill entry that reads several teachers
    (``teacher=['a.neck', 'b.neck']`` in a
    :class:`~mmkd.models.distillers.MultiTeacherDistiller`), in the
    notation of METHODS.md (``fs``, ``ft``; ``f_k`` the feature of teacher
    ``k = 1..K`` at one level, after the entry's ``teacher_index`` and
    ``act_cfg``; ``L_base`` the entry's loss).

    * ``mode='mean'`` (default): the target is the teachers' mean,
      ``ft = (1/K) sum_k f_k``, and ``L = L_base(fs, ft)``. For a logit loss
      (KD, DKD, RLD, LDRLD) ``f_k`` are the teachers' logits ``zt_k`` and the
      target is their mean ``zt = (1/K) sum_k zt_k``; the loss then applies
      its temperature, ``zt / T = (1/K) sum_k (zt_k / T)``: the mean of the
      temperature-scaled logits (the equal-weight logit average that
      multi-teacher KD work uses as its baseline). It is not the mean of
      the teachers' softened probabilities ``(1/K) sum_k softmax(zt_k /
      T)`` (Hinton et al.'s ensemble target), which DKD, RLD and LDRLD could
      not take: they decompose logits.
    * ``mode='uncertainty'``: AKD's ensemble loss (METHODS.md section 1,
      steps 2-3) with the K real teachers in the avatars' place and their
      mean ``ft`` in the vanilla teacher's: ``sigma^2 = E_x E_k[(f_k -
      ft)^2]`` per channel (mean over teachers, batch and positions; for
      B x D vectors per dimension), ``sigma = sqrt(sigma^2 + eps)``,
      detached, and ``L = (1/K) sum_k L_base(fs / sigma, f_k / sigma)``.
      Channels where the teachers agree exactly (``sigma^2 = 0``) keep
      ``sigma = 1``, as :class:`~mmkd.models.losses.AvatarLoss` does. Feature
      losses only (the teachers' spread is a feature statistic); the mean
      ``sigma`` is logged as ``uncertainty``.

    Both need the teachers' features at one level to have one shape (the
    entry's ``teacher_connector`` then applies to each, the student's
    ``connector`` maps the student to that shape once).

    Args:
        cfg (str | dict): ``'mean'``, ``'uncertainty'`` or ``dict(mode=...,
            eps=1e-6)``.
        where (str): the entry, for messages.
    """

    def __init__(self, cfg: Union[str, dict], where: str) -> None:
        cfg = dict(mode=cfg) if isinstance(cfg, str) else dict(cfg)
        self.mode = cfg.pop('mode', 'mean')
        self.eps = float(cfg.pop('eps', 1e-6))
        if cfg or self.mode not in ENSEMBLE_MODES:
            raise ValueError(
                f"{where}: ensemble={dict(mode=self.mode, **cfg)!r}: give "
                f"ensemble='mean' or 'uncertainty' (or dict(mode=..., "
                'eps=...))')
        self.where = where

    def check_shapes(self, named: Dict[str, List[Tensor]]) -> None:
        """Raise, naming the teachers, their shapes and the fix, when the
        levels ``{teacher path: [level features]}`` cannot be combined."""
        shapes = {
            path: [tuple(t.shape) for t in levels]
            for path, levels in named.items()
        }
        if len({tuple(s) for s in shapes.values()}) == 1:
            return
        listed = '; '.join(f'{path!r} gives {s}' for path, s in shapes.items())
        raise ValueError(
            f'{self.where}: the teachers\' features cannot be combined '
            f'({self.mode} ensemble): {listed}. An ensemble needs one shape '
            'per level: read modules of the same shape (pick levels with '
            'teacher_index, e.g. the FPN levels of the same strides), or '
            'give each teacher its own entry with its own connector '
            "(teacher='<name>.<module>'), whose losses add up")

    @staticmethod
    def mean(feats: List[Tensor]) -> Tensor:
        """``(1/K) sum_k f_k`` (identical teachers give the feature itself,
        exactly)."""
        total = feats[0]
        for feat in feats[1:]:
            total = total + feat
        return total / len(feats)

    def sigma(self, feats: List[Tensor]) -> Tensor:
        """``sigma`` of :attr:`mode` ``'uncertainty'``: 1 x C x 1 x 1 for
        maps, 1 x D for vectors; detached."""
        with torch.no_grad():
            stacked = torch.stack([f.detach() for f in feats])
            mean = stacked.mean(0, keepdim=True)
            dims = tuple(d for d in range(stacked.dim()) if d != 2)
            var = (stacked - mean).square().mean(dim=dims)
            shape = (1, -1) + (1, ) * (feats[0].dim() - 2)
            var = var.reshape(shape)
            return torch.where(var > 0, var + self.eps,
                               torch.ones_like(var)).sqrt()

    def loss(
            self, student: Tensor, teachers: List[Tensor],
            loss_fn: Callable[[Tensor, Tensor],
                              Tensor]) -> Tuple[Tensor, Tensor]:
        """``(1/K) sum_k loss_fn(fs / sigma, f_k / sigma)`` (mode
        ``'uncertainty'``; ``student`` and ``teachers`` aligned to one
        shape) and the mean ``sigma``."""
        sigma = self.sigma(teachers)
        scaled = student / sigma
        total = None
        for feat in teachers:
            term = loss_fn(scaled, feat / sigma)
            total = term if total is None else total + term
        return total / len(teachers), sigma.mean()
