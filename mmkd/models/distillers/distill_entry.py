# Copyright (c) mmkd contributors. All rights reserved.
"""One distillation entry: which student/teacher module, which loss."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch.nn as nn
from torch import Tensor

from mmkd.models.connectors.alignment import check_aligned
from mmkd.models.losses.base import BaseLogitLoss
from mmkd.models.recording.input_relay import parse_relay_spec
from mmkd.models.recording.levels import split_levels
from mmkd.registry import MODELS
from .entry_config import build_loss, teacher_path_list
from .teacher_ensemble import TeacherEnsemble

ENTRY_KEYS = {
    'name', 'student', 'teacher', 'loss', 'connector', 'teacher_connector',
    'student_index', 'teacher_index', 'num_levels', 'level_weights',
    'teacher_logits', 'teacher_input_from_student', 'act_cfg', 'ensemble'
}


class DistillEntry(nn.Module):
    """Holds the loss(es) and connector(s) of one distill entry.

    Config keys: ``student``, ``teacher`` (module paths), ``loss``,
    optional ``name``, ``connector`` (maps the student's feature to the
    teacher's: channels, size, tokens; a ``ConnectorChain`` for several
    steps), ``teacher_connector`` (parameter-free, on the teacher's side:
    ``TokensToMap`` for a transformer's tokens, ``ResizeConnector`` to the
    student's size; see :mod:`mmkd.models.connectors.alignment`),
    ``student_index``/``teacher_index`` (pick one element of a tuple
    output, or a list of them: student level ``student_index[k]`` is paired
    with teacher level ``teacher_index[k]``), ``num_levels`` (build one
    loss and one connector per level instead of sharing them),
    ``level_weights`` and ``teacher_logits`` (path of the teacher module
    whose output is its B x C logits, for a loss with
    ``needs_teacher_logits``, e.g. ``LSHLoss(teacher_correct_only=True)``:
    the distiller records it and passes its output to each call as
    ``teacher_logits=``) and
    ``teacher_input_from_student=dict(module=PATH, arg=INDEX_OR_NAME)``: the
    teacher module ``PATH`` gets, in place of that argument of its forward,
    what the same-named student module got in the student's pass over the
    batch (the student runs first), e.g. ``dict(module=
    'roi_head.bbox_roi_extractor', arg=1)`` runs the teacher's box head on the
    student's sampled RoIs (see :class:`StudentInputRelay`).

    ``act_cfg`` (e.g. ``dict(type='ReLU')``, built by mmcv's
    ``build_activation_layer``, never in place) is applied to both recorded
    features before the connector and the loss, for methods that distil the
    activation of a module that has none of its own: the LSH authors mimic
    the post-ReLU box-head feature, while mmdet's ``shared_fcs.N`` are bare
    linear layers followed by a ReLU in the head's forward.
    """

    #: a feature or logit entry (a :class:`HeadDistillEntry` is not)
    is_head = False

    def __init__(self, cfg: dict, index: int) -> None:
        super().__init__()
        cfg = dict(cfg)
        unknown = set(cfg) - ENTRY_KEYS
        if unknown:
            raise ValueError(f'distill[{index}]: unknown keys '
                             f'{sorted(unknown)}; allowed: '
                             f'{sorted(ENTRY_KEYS)}')
        for key in ('student', 'teacher', 'loss'):
            if key not in cfg:
                raise ValueError(f'distill[{index}] needs `{key}`')
        self.student_path: str = cfg['student']
        #: the teacher module(s) read: one path, or several (an ensemble)
        self.teacher_paths: List[str] = teacher_path_list(
            cfg['teacher'], index)
        self.teacher_path: str = self.teacher_paths[0]
        default_name = (
            self.student_path if self.student_path == self.teacher_path else
            f'{self.student_path}-{self.teacher_path}')
        self.name: str = cfg.get('name', default_name)
        self.student_index = cfg.get('student_index')
        self.teacher_index = cfg.get('teacher_index')
        self.num_levels: Optional[int] = cfg.get('num_levels')
        self.level_weights: Optional[Sequence[float]] = cfg.get(
            'level_weights')
        where = f'distill entry {self.name!r}'
        copies = self.num_levels or 1
        loss_cfgs = self._per_level(cfg['loss'], copies, 'loss')
        self.losses = nn.ModuleList(build_loss(c, where) for c in loss_cfgs)
        self.is_logit = isinstance(self.losses[0], BaseLogitLoss)
        self.teacher_logits_path: Optional[str] = cfg.get('teacher_logits')
        #: what the entry's losses declare they need in each call
        self.needs_teacher_logits = any(loss.needs_teacher_logits
                                        for loss in self.losses)
        self.needs_labels = any(loss.needs_labels for loss in self.losses)
        if self.needs_teacher_logits and self.teacher_logits_path is None:
            raise ValueError(
                f"{where}: the loss needs the teacher's logits; add "
                "teacher_logits='<teacher module path>' (e.g. 'head.fc') "
                'to the entry')
        if self.teacher_logits_path is not None and \
                not self.needs_teacher_logits:
            raise ValueError(
                f'{where}: teacher_logits is given but '
                f'{type(self.losses[0]).__name__} does not use it; remove '
                'it')
        self.ensemble = self._build_ensemble(cfg.get('ensemble'), where)
        relay = cfg.get('teacher_input_from_student')
        self.teacher_input_from_student = None if relay is None else \
            parse_relay_spec(relay, where)
        self.activation = self._build_activation(cfg.get('act_cfg'), where)
        self.connectors = self._build_connectors(
            cfg.get('connector'), copies, 'connector')
        self.teacher_connectors = self._build_connectors(
            cfg.get('teacher_connector'), copies, 'teacher_connector')
        for module in self.teacher_connectors or ():
            if any(True for _ in module.parameters()):
                raise ValueError(
                    f'{where}: teacher_connector {type(module).__name__} has '
                    'parameters, but the teacher is never trained; use a '
                    'parameter-free one (mmkd.TokensToMap, '
                    'mmkd.ResizeConnector) and put learnable alignment in '
                    '`connector` (the student\'s side)')
        if self.level_weights is not None and self.num_levels is not None \
                and len(self.level_weights) != self.num_levels:
            raise ValueError(f'{where}: {len(self.level_weights)} '
                             f'level_weights for {self.num_levels} levels')

    def _build_ensemble(self, cfg, where: str) -> Optional[TeacherEnsemble]:
        """The :class:`TeacherEnsemble` of an entry reading several
        teachers (None for one)."""
        if len(self.teacher_paths) == 1:
            if cfg is not None:
                raise ValueError(
                    f'{where}: `ensemble` combines several teachers, but the '
                    f'entry reads one ({self.teacher_path!r}); list them, '
                    "teacher=['<name>.<module>', '<other>.<module>'], or "
                    'remove `ensemble`')
            return None
        ensemble = TeacherEnsemble('mean' if cfg is None else cfg, where)
        if self.teacher_logits_path is not None:
            raise ValueError(
                f'{where}: teacher_logits reads one teacher, but the entry '
                f'reads several ({self.teacher_paths}); give each teacher '
                'its own entry')
        if ensemble.mode == 'uncertainty' and self.is_logit:
            raise ValueError(
                f"{where}: ensemble='uncertainty' scales features by the "
                f"teachers' spread; {type(self.losses[0]).__name__} is a "
                "logit loss: use ensemble='mean' (the mean of the teachers' "
                'logits)')
        return ensemble

    @staticmethod
    def _build_activation(act_cfg: Optional[dict],
                          where: str) -> Optional[nn.Module]:
        if act_cfg is None:
            return None
        from mmcv.cnn import build_activation_layer
        act_cfg = dict(act_cfg)
        if 'type' not in act_cfg:
            raise ValueError(f"{where}: act_cfg needs a `type`, e.g. "
                             "act_cfg=dict(type='ReLU')")
        try:
            act = build_activation_layer(act_cfg)
        except KeyError as err:
            raise KeyError(f'{where}: act_cfg {act_cfg}: {err}; use an '
                           "activation of mmcv's registry, e.g. 'ReLU', "
                           "'GELU', 'Sigmoid'") from None
        if getattr(act, 'inplace', False):
            act.inplace = False  # never change the recorded tensor
        return act

    def _build_connectors(self, cfg, copies: int,
                          what: str) -> Optional[nn.ModuleList]:
        if cfg is None:
            return None
        return nn.ModuleList(
            MODELS.build(c) for c in self._per_level(cfg, copies, what))

    def _per_level(self, cfg: Union[dict, list], copies: int,
                   what: str) -> List[dict]:
        if isinstance(cfg, (list, tuple)):
            if len(cfg) != copies:
                raise ValueError(f'distill entry {self.name!r}: {len(cfg)} '
                                 f'{what} configs for {copies} levels (set '
                                 'num_levels to the number of levels)')
            return [dict(c) for c in cfg]
        return [dict(cfg) for _ in range(copies)]

    def check_levels(self, num: int) -> None:
        where = f'distill entry {self.name!r}'
        if self.num_levels is not None and num != self.num_levels:
            raise ValueError(f'{where}: num_levels={self.num_levels} but the '
                             f'modules give {num} levels')
        if self.level_weights is not None and len(self.level_weights) != num:
            raise ValueError(f'{where}: {len(self.level_weights)} '
                             f'level_weights for {num} levels')

    def _pick(self, modules: Optional[nn.ModuleList], level: int):
        if modules is None:
            return None
        return modules[level] if len(modules) > 1 else modules[0]

    def loss_for(self, level: int) -> nn.Module:
        """The loss module that level ``level`` of this entry uses."""
        return self._pick(self.losses, level)

    @property
    def joint_levels(self) -> bool:
        """Whether the entry's loss takes all its levels in one call
        (``joint_levels``, e.g. ``LSHLoss(level_reduction='mean')``)."""
        return self.losses[0].joint_levels

    def _levels(self, recorded: dict, path: str, index,
                side: str) -> List[Tensor]:
        levels = split_levels(recorded[path], index,
                              f'distill entry {self.name!r} ({side})')
        if self.activation is not None:
            levels = [self.activation(feat) for feat in levels]
        return levels

    def student_record_paths(self) -> List[str]:
        """The student modules whose outputs the entry reads."""
        return [self.student_path]

    def teacher_record_paths(self) -> List[str]:
        """The teacher modules whose outputs the entry reads (its module
        and, if given, ``teacher_logits``)."""
        return self.teacher_paths + ([self.teacher_logits_path]
                                     if self.teacher_logits_path else [])

    def teacher_shapes(self, teacher_out: dict) -> List[tuple]:
        """Shapes of the entry's teacher levels (for the log)."""
        return [tuple(t.shape) for t in self.teacher_levels(teacher_out)]

    def student_levels(self, student_out: dict) -> List[Tensor]:
        """This entry's student features, one per level, from the
        student recorder's ``{path: [output per call]}`` (``act_cfg``
        applied)."""
        return self._levels(student_out, self.student_path, self.student_index,
                            'student')

    def member_levels(self, teacher_out: dict, path: str) -> List[Tensor]:
        """The features one teacher module of the entry (``path``, one of
        :attr:`teacher_paths`) gives, one per level (``act_cfg`` applied).
        """
        side = 'teacher' if self.ensemble is None else f'teacher {path!r}'
        return self._levels(teacher_out, path, self.teacher_index, side)

    def combine(self, members: Dict[str, List[Tensor]]) -> List[Tensor]:
        """The target levels of an ensemble entry from ``{teacher path:
        levels}``: the teachers' mean (checked to be combinable)."""
        self.ensemble.check_shapes(members)
        return [
            TeacherEnsemble.mean(list(feats))
            for feats in zip(*members.values())
        ]

    def teacher_levels(self, teacher_out: dict) -> List[Tensor]:
        """This entry's teacher features, one per level (``act_cfg``
        applied); for an ensemble entry the teachers' mean."""
        if self.ensemble is None:
            return self.member_levels(teacher_out, self.teacher_path)
        return self.combine({
            path: self.member_levels(teacher_out, path)
            for path in self.teacher_paths
        })

    def align_teacher(
            self, t_feat: Tensor, level: int,
            student_size: Optional[Tuple[int, int]] = None) -> Tensor:
        """The teacher feature of level ``level`` through the entry's
        ``teacher_connector`` (if any); ``student_size`` is the student
        map's H x W where known (a resize to it, a token grid's aspect)."""
        t_conn = self._pick(self.teacher_connectors, level)
        if t_conn is None:
            return t_feat
        return t_conn(t_feat, target_size=student_size)

    def align(self, s_feat: Tensor, t_feat: Tensor,
              level: int) -> Tuple[Tensor, Tensor]:
        """The student and teacher features of level ``level`` as the loss
        takes them: the teacher's through ``teacher_connector`` (given the
        student map's H x W), the student's through ``connector`` (given
        the teacher map's); a feature loss's inputs must then agree
        (:func:`~mmkd.models.connectors.alignment.check_aligned`)."""
        t_raw = tuple(t_feat.shape)
        t_feat = self.align_teacher(t_feat, level, _map_size(s_feat))
        return self.align_student(s_feat, t_feat, level, t_raw), t_feat

    def align_student(self, s_feat: Tensor, t_feat: Tensor, level: int,
                      t_raw: tuple) -> Tensor:
        """The student's feature of level ``level`` through ``connector``
        (given the aligned teacher map's H x W; ``t_raw`` the teacher's
        shape before its alignment, for messages)."""
        s_raw = tuple(s_feat.shape)
        connector = self._pick(self.connectors, level)
        # no connector maps a map to tokens: the check below names the fix
        map_to_tokens = s_feat.dim() == 4 and t_feat.dim() != 4
        if connector is not None and not (map_to_tokens and not self.is_logit):
            s_feat = connector(s_feat, target_size=_map_size(t_feat))
        if not self.is_logit and s_feat.shape != t_feat.shape:
            used = [
                key for key, conn in (('teacher_connector',
                                       self.teacher_connectors),
                                      ('connector', self.connectors))
                if conn is not None
            ]
            check_aligned(f'distill entry {self.name!r}, level {level}', s_raw,
                          t_raw, s_feat, t_feat, ' and '.join(used))
        return s_feat

    def pick_teacher_logits(self, teacher_out: dict) -> Optional[Tensor]:
        """The teacher's B x C logits recorded at ``teacher_logits`` (None
        when the entry has no such key)."""
        if self.teacher_logits_path is None:
            return None
        outs = split_levels(teacher_out[self.teacher_logits_path], None,
                            f'distill entry {self.name!r} (teacher_logits)')
        if len(outs) != 1 or outs[0].dim() != 2:
            raise ValueError(
                f'distill entry {self.name!r}: teacher_logits='
                f'{self.teacher_logits_path!r} must output one B x C '
                f'tensor, got shapes {[tuple(o.shape) for o in outs]}')
        return outs[0]

    def level_loss(self, s_feat: Tensor, t_feat: Tensor, level: int,
                   data_samples=None, labels=None,
                   teacher_logits: Optional[Tensor] = None) -> Tensor:
        """The (weighted) loss of level ``level``; ``labels`` and
        ``teacher_logits`` are passed to the loss as arguments (it takes
        those it declares it needs)."""
        loss_fn = self.loss_for(level)
        s_feat, t_feat = self.align(s_feat, t_feat, level)
        if self.is_logit:
            out = loss_fn(s_feat, t_feat, labels)
        else:
            out = loss_fn(s_feat, t_feat, data_samples,
                          teacher_logits=teacher_logits, labels=labels)
        return self._level_weighted(out, level)

    def _level_weighted(self, out: Tensor, level: int) -> Tensor:
        if self.level_weights is not None:
            out = out * self.level_weights[level]
        return out

    def uncertainty_level_loss(self, s_feat: Tensor, t_feats: List[Tensor],
                               level: int, data_samples=None,
                               labels=None) -> Tensor:
        """The (weighted) loss of level ``level`` of an entry with
        ``ensemble='uncertainty'`` on the K teachers' features ``t_feats``
        (see :class:`TeacherEnsemble`); the mean sigma is logged as
        ``uncertainty``."""
        loss_fn = self.loss_for(level)
        t_raw = tuple(t_feats[0].shape)
        size = _map_size(s_feat)
        t_feats = [self.align_teacher(t, level, size) for t in t_feats]
        s_feat = self.align_student(s_feat, t_feats[0], level, t_raw)
        out, sigma = self.ensemble.loss(
            s_feat, t_feats,
            lambda s, t: loss_fn(s, t, data_samples, labels=labels))
        loss_fn.record_log_var('uncertainty', sigma)
        return self._level_weighted(out, level)

    def joint_levels_loss(self, s_levels: List[Tensor], t_levels: List[Tensor],
                          data_samples=None,
                          teacher_logits: Optional[Tensor] = None,
                          labels: Optional[Tensor] = None) -> Tensor:
        """One loss over all levels, for a loss with ``joint_levels``
        (e.g. ``LSHLoss(level_reduction='mean')``): the connector level by
        level, then :meth:`BaseFeatureLoss.forward_levels`."""
        loss_fn = self.losses[0]
        pairs = [
            self.align(s_feat, t_feat, i)
            for i, (s_feat, t_feat) in enumerate(zip(s_levels, t_levels))
        ]
        s_levels = [s for s, _ in pairs]
        t_levels = [t for _, t in pairs]
        return loss_fn.forward_levels(s_levels, t_levels, data_samples,
                                      teacher_logits=teacher_logits,
                                      labels=labels)

    def pop_log_vars(self, level: int) -> dict:
        return self.loss_for(level).pop_log_vars()


def _map_size(feat: Tensor) -> Optional[Tuple[int, int]]:
    """H x W of a B x C x H x W map, None for tokens or vectors."""
    return tuple(feat.shape[2:]) if feat.dim() == 4 else None
