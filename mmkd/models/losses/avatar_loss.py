# Copyright (c) mmkd contributors. All rights reserved.
"""Avatar Knowledge Distillation: the loss over an ensemble of avatars
(the avatars and their uncertainty are drawn by
:class:`~.avatar_sampling.AvatarSampler`)."""
from functools import partial
from typing import Iterator, Optional, Sequence

import torch
from torch import Tensor

from mmkd.registry import MODELS
from .avatar_sampling import AvatarSampler, standardise
from .base import BaseFeatureLoss
from .eager_grad import EagerGradSum, total

# avatars per chunk; see the chunk_size argument
_DEFAULT_CHUNK_SIZE = 8


def _feature_loss_names() -> list:
    """Names of the registered mmkd feature losses (for error messages)."""
    MODELS.import_from_location()
    return sorted(
        f'mmkd.{name}' for name, cls in MODELS.module_dict.items()
        if isinstance(cls, type) and issubclass(cls, BaseFeatureLoss)
        and cls is not AvatarLoss)


def _build_base(base) -> BaseFeatureLoss:
    """Build the wrapped feature loss from its config (or take a built
    one), raising a clear error for anything else."""
    if isinstance(base, BaseFeatureLoss):
        return _check_base_needs(base)
    if not isinstance(base, dict) or 'type' not in base:
        raise TypeError(
            'AvatarLoss: base must be the config dict of a feature loss, '
            "e.g. base=dict(type='mmkd.CWDLoss', tau=1.0), got "
            f'{base!r}')
    loss_type = base['type']
    cls = loss_type if isinstance(loss_type, type) else MODELS.get(loss_type)
    if cls is None:
        raise KeyError(
            f'AvatarLoss: base type {loss_type!r} is not registered; the '
            f'mmkd feature losses are {", ".join(_feature_loss_names())}')
    if not (isinstance(cls, type) and issubclass(cls, BaseFeatureLoss)):
        raise TypeError(
            f'AvatarLoss: base type {loss_type!r} is not a feature loss '
            f'({getattr(cls, "__name__", cls)} does not subclass '
            'BaseFeatureLoss; logit losses cannot be wrapped since avatars '
            'perturb teacher features). Use one of '
            f'{", ".join(_feature_loss_names())}')
    return _check_base_needs(MODELS.build(base))


def _check_base_needs(base: BaseFeatureLoss) -> BaseFeatureLoss:
    """``base``, unless it needs inputs AvatarLoss does not pass on."""
    needs = []
    if base.needs_teacher_logits:
        needs.append('teacher_logits')
    if base.needs_labels:
        needs.append('labels')
    if needs:
        raise ValueError(
            f'AvatarLoss: the base {type(base).__name__} needs {needs} '
            'besides the features, which AvatarLoss does not pass to it '
            '(e.g. use LSHLoss without teacher_correct_only)')
    return base


def _weighted_sum(calls: list, loss: BaseFeatureLoss, passed: dict) -> Tensor:
    """``sum_j w_j * call_j()`` for ``(w_j, call_j)`` in ``calls``; after
    each call the log vars ``loss`` recorded are added to ``passed``,
    weighted by ``w_j``."""
    terms = []
    for weight, call in calls:
        value = call()
        terms.append(value if weight == 1 else weight * value)
        for key, logged in loss.pop_log_vars().items():
            passed[key] = passed.get(key, 0.) + weight * logged
    return total(terms)


@MODELS.register_module()
class AvatarLoss(BaseFeatureLoss):
    """Avatar Knowledge Distillation (Zhang et al., "Avatar Knowledge
    Distillation: Self-ensemble Teacher Paradigm with Uncertainty", ACM MM
    2023, arXiv 2305.02722): wraps any feature loss ``L_base``. The three
    steps below are the paper's avatars (perturbation transformation),
    uncertainty-aware factor and ensemble loss, as METHODS.md section 1
    writes them (its steps 1-3).

    Per call, with teacher feature ``ft`` (detached) and student ``fs``:

    1. Avatars ``a_i``, ``i = 1..N``: perturbed copies of ``ft``, applied in
       eval mode too. ``perturbation='dropout'`` (paper, default):
       element-wise dropout ``a_i = m_i * ft / (1 - p)``,
       ``m_i ~ Bernoulli(1 - p)``. ``perturbation='gaussian'``:
       ``a_i = ft + noise_std * r * z_i``, ``z_i ~ N(0, 1)`` element-wise,
       ``r`` the per-channel RMS of ``ft`` (over batch and positions).
       ``noise_std=None`` picks ``sqrt(p / (1 - p))``, which gives the
       dropout avatars' expected per-channel variance
       ``p / (1 - p) * E[ft^2]``.
    2. Uncertainty (``uncertainty``):

       * ``'channel'`` (paper, default): ``sigma^2 = E_x E_i[(a_i - ft)^2]``
         per channel (mean over avatars, batch and positions),
         ``sigma = sqrt(sigma^2 + eps)``, detached; both sides are divided
         by it.
       * ``'spatial'``: the same with one sigma per spatial position (mean
         over avatars, batch and channels).
       * ``'none'``: ``sigma = 1``.
       * ``'batchnorm'`` (the public code's variant): no sigma; the student
         and each avatar are standardised per channel by their own batch
         statistics, ``(x - mean) / sqrt(var + eps)`` over (B, H, W) with
         the biased variance, i.e. a non-affine BatchNorm2d in training
         mode (gradients flow through the student's statistics, as in
         BatchNorm). The public MGD and MasKD variants (Gumpest/AvatarKD)
         do this with one avatar (``num_avatars=1``, BatchNorm2d's
         ``eps=1e-5``). Its AKD-over-CWD code differs: it standardises
         the raw teacher, never uses that result, and feeds the raw
         (un-normalised) avatar to the loss against the standardised
         student, so the two sides of its CWD softmax are on different
         scales. mmkd standardises both sides and does not copy that.

       Dead channels: where ``sigma^2`` is exactly 0 (for ``'channel'``,
       a channel where ``ft`` is identically zero, so every avatar equals
       the teacher; likewise a position for ``'spatial'``; everywhere when
       ``drop_prob=0`` or ``noise_std=0``), the avatars carry no
       uncertainty, and dividing by ``sqrt(eps)`` would multiply the
       student there by ``1 / sqrt(eps)`` (1000 at the default ``eps``).
       Such channels are left unscaled, ``sigma = 1``: the base loss
       treats them as it would without AKD (as ``'none'`` does).
    3. Loss (the paper's average over the avatar ensemble):
       ``L = loss_weight * (1/N) sum_i L_base(fs / sigma, a_i / sigma)``.

    ``L_base`` includes the base's own ``loss_weight`` (configure the base
    as usual); this loss's ``loss_weight`` multiplies on top (default 1).

    Cost: the avatars are processed ``chunk_size`` at a time. A base with
    ``computes_many`` (its ``compute_many(student_feat, teacher_feats,
    data_samples)`` is the unweighted mean of its ``compute`` over
    ``teacher_feats``, k x B x ..., for one student; CWD has one) gets each
    chunk of k avatars in one call and does the student side once.
    Otherwise, if the base is ``batch_separable`` (its loss is a mean over
    samples), the chunk is folded into the batch (student repeated k times,
    ``data_samples`` k times) and the base is called once per chunk, which
    equals the mean over those avatars; else (bases using batch statistics,
    where a folded batch would mix the avatars' statistics and change the
    loss) the base is called once per avatar. When N > ``chunk_size`` and
    gradients are needed, each chunk's gradient (to the student and to the
    base's parameters) is taken as soon as its loss is computed and the
    chunk's graph is freed, so the memory is that of one chunk, not of N
    avatars; the gradients are those of the sum (the loss can then not be
    differentiated twice). ``sigma`` needs every avatar before the first
    loss: it is accumulated chunk by chunk from the draws (for dropout in
    closed form from the per-element count K of kept masks, ``sum_i (a_i -
    ft)^2 = ft^2 (q^2 K + N - K)`` with ``q = p / (1 - p)``; for gaussian
    avatars from ``sum_i z_i^2``). When there is more than one chunk, the
    dropout masks are kept packed eight avatars to a byte (N / 8 bytes per
    feature element, an eighth of one float avatar at N = 16) and unpacked
    for the loss; gaussian draws cannot be packed, so the generator is
    rewound and the same draws are made again. Chunking therefore changes
    neither the avatars nor the loss (up to float rounding), only the memory
    and, when N > ``chunk_size``, the cost of the packing (dropout) or of
    drawing twice (gaussian).

    Precision: AKD runs in float32 whatever the input dtype, with autocast
    disabled inside: the features are upcast (a half-precision teacher of
    magnitude >= 256 would overflow ``(a_i - ft)^2`` in float16, and
    bfloat16 keeps 8 bits of the statistics), the avatars, ``sigma`` and
    the base loss are float32, and the gradient flows back to the
    student's dtype. The loss is float32.

    After each call the mean uncertainty is recorded as the log variable
    ``'uncertainty'``: mean sigma (1 for ``'none'``, dead channels count
    as 1; for ``'batchnorm'`` the mean per-channel std the avatars were
    divided by). Log variables the base records are passed on (averaged
    over avatars).

    Input: 4-D maps (B x C x H x W); 2-D vectors (B x D, D taken as the
    channels) only for ``uncertainty`` in ``'channel'``/``'none'`` and a
    base that accepts vectors.

    Randomness: avatars are drawn from a ``torch.Generator`` owned by the
    loss (on the feature's device), seeded with ``seed``, or, when ``seed``
    is None, at first use from ``torch.initial_seed()`` (which mmengine's
    Runner sets from ``randomness.seed``) mixed with the shape of the first
    feature, so the stream differs from the global one and between levels
    of different shapes (losses without ``seed`` that first see features of
    one shape draw identical avatars: give them distinct seeds to
    decorrelate them). Avatar i is always the i-th float32 draw of one
    feature's shape (one generator call per avatar), whatever the chunk
    size. The global random stream is not consumed. Equal seeds give
    identical avatars. The generator state is saved in the module's state
    dict (``_extra_state``), so a resumed run continues the same stream on
    the same device type (on another device type the stream restarts from
    the seed). In a multi-process run rank 0 draws exactly this stream and
    every rank ``r > 0`` re-seeds its generator, at first use, from one
    draw of it mixed with ``r``, so the ranks' avatars are decorrelated (and
    reproducible per rank). A checkpoint holds rank 0's state: on resume
    rank 0 continues its stream and the other ranks re-derive theirs from
    it the same way (decorrelated, not the uninterrupted run's).

    Args:
        base (dict | BaseFeatureLoss): config of the wrapped feature loss,
            e.g. ``dict(type='mmkd.CWDLoss', tau=1.0)``.
        num_avatars (int): N. Defaults to 8.
        drop_prob (float): dropout probability p in [0, 1). Defaults to
            0.1 (paper and public code).
        uncertainty (str): 'channel' | 'spatial' | 'none' | 'batchnorm'.
            Defaults to 'channel'.
        perturbation (str): 'dropout' | 'gaussian'. Defaults to 'dropout'.
        noise_std (float, optional): relative std of the gaussian avatars;
            only with ``perturbation='gaussian'``. Defaults to None
            (``sqrt(p / (1 - p))``).
        eps (float): added to sigma^2 (or to the variance for
            'batchnorm'). Defaults to 1e-6.
        seed (int, optional): seed of the avatar generator. Defaults to
            None (from the run's seed, see above).
        chunk_size (int): avatars processed at a time (see Cost); any
            value >= N means all at once. Defaults to 8, measured on the
            toy pairs (README, Benchmarks): no slower than all at once up
            to N = 8, with memory bounded beyond.
        loss_weight (float): multiplies the averaged base loss. Defaults to
            1.0.
    """
    # sigma uses statistics of the whole batch
    batch_separable = False

    def __init__(self, base, num_avatars: int = 8, drop_prob: float = 0.1,
                 uncertainty: str = 'channel', perturbation: str = 'dropout',
                 noise_std: Optional[float] = None, eps: float = 1e-6,
                 seed: Optional[int] = None,
                 chunk_size: int = _DEFAULT_CHUNK_SIZE,
                 loss_weight: float = 1.0) -> None:
        super().__init__(loss_weight=loss_weight)
        #: draws the avatars and computes their uncertainty
        self.sampler = AvatarSampler(num_avatars, drop_prob, uncertainty,
                                     perturbation, noise_std, eps, seed,
                                     chunk_size)
        self.base = _build_base(base)

        self.accepts_maps = self.base.accepts_maps
        self.accepts_vectors = self.base.accepts_vectors and \
            uncertainty in ('channel', 'none')
        if not (self.accepts_maps or self.accepts_vectors):
            raise ValueError(
                f'AvatarLoss: base {type(self.base).__name__} takes only '
                f'B x D vectors, but uncertainty={uncertainty!r} needs '
                "B x C x H x W maps; use uncertainty='channel' or 'none'")

    # ------------------------------------------------------------ randomness
    def get_extra_state(self) -> dict:
        return self.sampler.get_state()

    def set_extra_state(self, state: dict) -> None:
        self.sampler.set_state(state)

    def make_avatars(self, teacher_feat: Tensor) -> Tensor:
        """The next N avatars of the (detached) teacher feature, the ones a
        call of the loss would draw, unnormalised, float32, stacked along a
        new dim 0: N x B x C x H x W (or N x B x D)."""
        return self.sampler.make_avatars(teacher_feat)

    def estimate_sigma(self, teacher_feat: Tensor) -> Tensor:
        """sigma ('channel': 1 x C x 1 x 1 or 1 x D, 'spatial':
        1 x 1 x H x W) from the next N avatars, as a call of the loss
        computes it; advances the generator as a call does."""
        return self.sampler.estimate_sigma(teacher_feat)

    # ------------------------------------------------------------------ loss
    def _chunk_loss(self, student: Tensor, avatars: Tensor,
                    data_samples: Optional[Sequence], passed: dict) -> Tensor:
        """One chunk's share of ``(1/N) sum_i L_base(student, avatar_i)``;
        the base's log vars, weighted alike, are added to ``passed``."""
        base, k = self.base, avatars.shape[0]
        num_avatars = self.sampler.num_avatars
        share = k / num_avatars
        if base.computes_many:
            calls = [(share, lambda: base.loss_weight * base.compute_many(
                student, avatars, data_samples))]
        elif base.batch_separable:
            folded = student.repeat(k, *([1] * (student.dim() - 1)))
            samples = None if data_samples is None else \
                list(data_samples) * k
            calls = [(share,
                      partial(base, folded, avatars.flatten(0, 1), samples))]
        else:
            calls = [(1 / num_avatars,
                      partial(base, student, avatar, data_samples))
                     for avatar in avatars]
        return _weighted_sum(calls, base, passed)

    def _ensemble(self, student: Tensor, chunks: Iterator[Tensor],
                  data_samples: Optional[Sequence]) -> Tensor:
        """``(1/N) sum_i L_base(student, avatar_i)`` over the chunks; with
        more than one chunk, each chunk's gradient is taken right away when
        gradients are needed (a single chunk's graph is simply kept)."""
        passed = {}

        def terms(s_feat: Tensor) -> Iterator[Tensor]:
            for avatars in chunks:
                yield self._chunk_loss(s_feat, avatars, data_samples, passed)

        params = tuple(p for p in self.base.parameters() if p.requires_grad)
        sampler = self.sampler
        if sampler.num_avatars > sampler.chunk_size and \
                torch.is_grad_enabled() and (student.requires_grad or params):
            loss = EagerGradSum.apply(terms, student, *params)
        else:
            loss = total(terms(student))
        for key, value in passed.items():
            self.record_log_var(key, value)
        return loss

    def compute(self, student_feat: Tensor, teacher_feat: Tensor,
                data_samples: Optional[Sequence] = None) -> Tensor:
        sampler = self.sampler
        with torch.autocast(teacher_feat.device.type, enabled=False):
            ft = teacher_feat.detach().float()
            fs = student_feat.float()
            gen = sampler.generator(ft)
            sigma, kept, stds = 1., [], []
            if sampler.uncertainty in ('channel', 'spatial'):
                rewind = gen.get_state()
                sigma, kept = sampler.scan(ft, gen)
                if not kept:  # draw the same avatars again
                    gen.set_state(rewind)
                fs = fs / sigma
            elif sampler.uncertainty == 'batchnorm':
                fs, _ = standardise(fs, (0, 2, 3), sampler.eps)
            chunks = sampler.avatar_chunks(ft, gen, sigma, kept, stds)
            loss = self._ensemble(fs, chunks, data_samples)
        if sampler.uncertainty == 'batchnorm':
            uncertainty = sum(stds) / (sampler.num_avatars * ft.shape[1])
        elif sampler.uncertainty == 'none':
            uncertainty = ft.new_ones(())
        else:
            uncertainty = sigma.mean()
        self.record_log_var('uncertainty', uncertainty)
        return loss
