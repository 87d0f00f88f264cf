# Copyright (c) mmkd contributors. All rights reserved.
"""Splitting a dense detection head at one of its stacked convolutions.

Head-level distillation (CrossKD, prediction mimicking, LD) needs three
things of an mmdet dense head that mmdet does not offer as one interface:
where the head feature after stacked conv ``k`` is (to record it), how to
run the head from conv ``k`` on (on another tensor, with gradients), and
the priors, label weights and ``avg_factor`` the head's own loss uses. A
:class:`BaseHeadSplit` answers them for one head; one subclass per head
family, registered in ``HEAD_SPLITS`` under the head's class name, and
found for a head by its class or the nearest registered base class (mmdet's
``LDHead`` is a ``GFLHead``).

The split reads the head through forward hooks only (module outputs), like
every mmkd recording: the head's code is not changed. A head is split where
its ``cls_convs`` and ``reg_convs`` are ``ConvModule`` stacks (conv, norm,
activation in that order); the feature "after conv ``k``" is the output of
``cls_convs[k - 1]`` *before* its activation, as CrossKD takes it (the conv's
output, or its norm's where the module has one).
"""
from typing import Dict, List, NamedTuple, Optional, Tuple

import torch
import torch.nn as nn
from torch import Tensor

from mmkd.registry import HEAD_SPLITS


class LevelPredictions(NamedTuple):
    """A head's predictions on one level, as its forward gives them in eval
    mode: ``cls`` (B, A*C, H, W) class logits, ``reg`` (B, A*R, H, W) box
    regression (deltas, distances or distribution logits) and ``ctr``
    (B, A, H, W) centerness logits (None for heads without one)."""
    cls: Tensor
    reg: Tensor
    ctr: Optional[Tensor] = None


class DenseTargets(NamedTuple):
    """What the student head's own loss computes for a batch, per level
    and flattened image-major as the predictions are: ``priors`` (N_l, 4)
    anchors or (N_l, 2) points, ``labels`` (N_l,) with ``num_classes`` for
    background, ``label_weights`` (N_l,), and one ``avg_factor`` (a float)
    for every level."""
    priors: List[Tensor]
    labels: List[Tensor]
    label_weights: List[Tensor]
    avg_factor: float


def flat(pred: Tensor, width: int) -> Tensor:
    """(B, A*width, H, W) -> (B*H*W*A, width), the order of mmdet's priors
    and targets."""
    return pred.permute(0, 2, 3, 1).reshape(-1, width)


class BaseHeadSplit:
    """One mmdet dense head, split at stacked conv ``k`` (see the module
    doc). Subclasses name the head's predictor modules and what the head
    does after them; they declare:

    * ``cls_name``, ``reg_name``, ``ctr_name``: the head's predictor
      convolutions (``ctr_name`` None: no centerness);
    * ``scaled``: whether the box branch goes through ``scales[level]``
      (mmcv ``Scale``) after its predictor;
    * ``box_kind``: ``'deltas'`` (anchor deltas, the head's ``bbox_coder``),
      ``'distances'`` (point to box sides, the head's ``bbox_coder``) or
      ``'distribution'`` (GFL's general distribution: ``reg_max + 1``
      logits per side, compared as distributions).

    Args:
        head (nn.Module): the dense head.
        k (int, optional): the stacked conv after which the head is split
            (1-based, as CrossKD's ``reused_teacher_head_idx``); None when
            only the predictions are read.
        where (str): who asks, for the messages.
    """
    cls_name: str = ''
    reg_name: str = ''
    ctr_name: Optional[str] = None
    scaled: bool = False
    box_kind: str = 'deltas'

    def __init__(self, head: nn.Module, k: Optional[int] = None,
                 where: str = 'head split') -> None:
        self.head = head
        self.where = where
        self.k = k
        self._check_stacks()
        if k is not None:
            num = self.num_convs
            if isinstance(k, bool) or not isinstance(k, int) or \
                    not 1 <= k <= num:
                raise ValueError(
                    f'{where}: head_idx={k!r} is out of range: '
                    f'{type(head).__name__} has {num} stacked convs per '
                    f'branch, so the head splits after conv 1..{num} '
                    f'(head_idx=1..{num}; CrossKD uses the last but one)')

    # ------------------------------------------------------------ structure
    def _check_stacks(self) -> None:
        from mmcv.cnn import ConvModule
        name = type(self.head).__name__
        for attr in ('cls_convs', 'reg_convs'):
            stack = getattr(self.head, attr, None)
            if not isinstance(stack, nn.ModuleList) or not len(stack) or \
                    not all(isinstance(m, ConvModule) for m in stack):
                raise ValueError(
                    f'{self.where}: {name} cannot be split: its `{attr}` is '
                    'not a non-empty nn.ModuleList of mmcv ConvModules '
                    '(a stack of head convolutions shared by every level)')
            for module in stack:
                if tuple(module.order) != ('conv', 'norm', 'act') or \
                        not module.with_activation:
                    raise ValueError(
                        f'{self.where}: {name} cannot be split: its '
                        f'`{attr}` ConvModules must run conv, norm, '
                        f'activation in that order (got order='
                        f'{module.order}, activation '
                        f'{module.with_activation})')
        if len(self.head.cls_convs) != len(self.head.reg_convs):
            raise ValueError(f'{self.where}: {name} cannot be split: '
                             f'{len(self.head.cls_convs)} cls_convs but '
                             f'{len(self.head.reg_convs)} reg_convs')
        for attr in (self.cls_name, self.reg_name, self.ctr_name):
            if attr and not isinstance(
                    getattr(self.head, attr, None), nn.Module):
                raise ValueError(f'{self.where}: {name} cannot be split: '
                                 f'it has no predictor module `{attr}`')

    @property
    def num_convs(self) -> int:
        return len(self.head.cls_convs)

    @property
    def num_levels(self) -> int:
        return self.head.prior_generator.num_levels

    @property
    def num_classes(self) -> int:
        return self.head.num_classes

    @property
    def cls_channels(self) -> int:
        return self.head.cls_out_channels

    @property
    def feat_channels(self) -> int:
        """Channels of the split feature (the stacked convs' width)."""
        return self.head.cls_convs[self.k - 1].conv.out_channels

    @property
    def reg_width(self) -> int:
        """Numbers per prior in ``reg`` (4, or 4 * (reg_max + 1))."""
        return 4

    @property
    def has_centerness(self) -> bool:
        return self.ctr_name is not None

    def layout(self) -> dict:
        """What must agree between a student's and a teacher's head for
        their predictions to be compared prior by prior."""
        gen = self.head.prior_generator
        return dict(
            head=type(self).__name__, strides=[tuple(s) for s in gen.strides],
            priors_per_position=gen.num_base_priors,
            base_priors=[b.tolist() for b in getattr(gen, 'base_anchors', [])],
            reg_width=self.reg_width)

    # ------------------------------------------------------------ recording
    def _pre_activation(self, stack: str) -> str:
        module = getattr(self.head, stack)[self.k - 1]
        inner = module.norm_name if module.with_norm else 'conv'
        return f'{stack}.{self.k - 1}.{inner}'

    def split_paths(self) -> Dict[str, str]:
        """``{'cls': path, 'reg': path}`` (relative to the head) of the
        features after conv ``k``, before its activation."""
        return {b: self._pre_activation(f'{b}_convs') for b in ('cls', 'reg')}

    def prediction_paths(self) -> List[str]:
        """The modules (relative to the head) whose outputs make the
        predictions: the predictors, and each level's ``Scale``."""
        paths = [self.cls_name, self.reg_name]
        if self.ctr_name:
            paths.append(self.ctr_name)
        if self.scaled:
            paths += [f'scales.{i}' for i in range(self.num_levels)]
        return paths

    def predictions(self, rec: Dict[str, list]) -> List[LevelPredictions]:
        """The head's predictions per level from its recorded modules
        (``{relative path: [output per call]}``), finished as the head's
        forward finishes them in eval mode."""
        out = []
        for level in range(self.num_levels):
            reg = rec[f'scales.{level}'][0] if self.scaled else \
                rec[self.reg_name][level]
            ctr = rec[self.ctr_name][level] if self.ctr_name else None
            out.append(
                LevelPredictions(rec[self.cls_name][level],
                                 self.finish_reg(reg.float(), level), ctr))
        return out

    def finish_reg(self, reg: Tensor, level: int) -> Tensor:
        """What the head's forward does to the box branch after its
        ``Scale`` (or predictor), in eval mode. Nothing by default."""
        return reg

    # ------------------------------------------------------------ the tail
    def run_from_split(self, cls_feat: Tensor, reg_feat: Tensor,
                       level: int) -> LevelPredictions:
        """The head from conv ``k`` on: ``cls_feat``/``reg_feat`` stand for
        the features after conv ``k`` before its activation; returns the
        predictions of ``level`` (gradients flow to the inputs)."""
        cls_feat = self.head.cls_convs[self.k - 1].activate(cls_feat)
        reg_feat = self.head.reg_convs[self.k - 1].activate(reg_feat)
        for i in range(self.k, self.num_convs):
            cls_feat = self.head.cls_convs[i](cls_feat)
            reg_feat = self.head.reg_convs[i](reg_feat)
        reg = getattr(self.head, self.reg_name)(reg_feat)
        if self.scaled:
            reg = self.head.scales[level](reg)
        ctr = None
        if self.ctr_name:
            ctr = getattr(self.head, self.ctr_name)(
                self.centerness_input(cls_feat, reg_feat))
        return LevelPredictions(
            getattr(self.head, self.cls_name)(cls_feat),
            self.finish_reg(reg.float(), level), ctr)

    def centerness_input(self, cls_feat: Tensor, reg_feat: Tensor) -> Tensor:
        """The branch the centerness predictor reads (the box branch)."""
        return reg_feat

    # ------------------------------------------------------------- targets
    def targets(self, preds: List[LevelPredictions],
                data_samples) -> DenseTargets:
        """The head's priors, labels, label weights and avg_factor for this
        batch (one assignment, no gradient)."""
        raise NotImplementedError

    def decode(self, priors: Tensor, reg: Tensor) -> Tensor:
        """Boxes (N, 4) from priors and ``reg`` flattened to (N, 4)."""
        return self.head.bbox_coder.decode(priors, reg)


def unpack_batch(data_samples) -> Tuple[list, list, list]:
    """mmdet's ``unpack_gt_instances``: ground truth, ignored ground truth
    and image metas of the batch."""
    from mmdet.models.utils import unpack_gt_instances
    return unpack_gt_instances(data_samples)


def reduced_mean(value: float, device: torch.device) -> float:
    """``value`` averaged over the processes of a distributed run (as
    mmdet's heads average their ``avg_factor``), a float."""
    from mmdet.utils import reduce_mean
    return float(
        reduce_mean(
            torch.tensor(float(value), dtype=torch.float, device=device)))


def build_head_split(head: nn.Module, k: Optional[int] = None,
                     where: str = 'head split') -> BaseHeadSplit:
    """The registered split of ``head``'s class or of its nearest
    registered base class; a clear error for a head none serves."""
    HEAD_SPLITS.import_from_location()
    for cls in type(head).__mro__:
        split = HEAD_SPLITS.module_dict.get(cls.__name__)
        if split is not None:
            return split(head, k, where)
    known = sorted(HEAD_SPLITS.module_dict)
    raise ValueError(
        f'{where}: {type(head).__name__} is not a head mmkd can split: '
        f'head-level distillation needs to know its stacked convs, '
        f'predictors and label assignment, which mmkd knows for {known} '
        '(and their subclasses). Distil such a detector on its FPN levels '
        '(e.g. mmkd.PKDLoss), or register a split for it: a subclass of '
        'mmkd.models.head_splits.BaseHeadSplit, '
        "@HEAD_SPLITS.register_module(name='<HeadClassName>')")
