# Copyright (c) mmkd contributors. All rights reserved.
from functools import partial
from numbers import Number
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from mmkd.registry import MODELS
from mmkd.utils.dist import decorrelate_across_ranks
from .base import BaseFeatureLoss
from .utils import check_non_negative, check_positive

_UNCERTAINTY_MODES = ('channel', 'spatial', 'none', 'batchnorm')
_PERTURBATIONS = ('dropout', 'gaussian')
_MAX_SEED = 2**64 - 1
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
        return base
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
    return MODELS.build(base)


def _standardise(x: Tensor, dims: Tuple[int, ...],
                 eps: float) -> Tuple[Tensor, Tensor]:
    """``(x - mean) / sqrt(var + eps)`` with the mean and biased variance
    over ``dims`` (what a non-affine BatchNorm2d does in training mode when
    ``dims`` are the batch and spatial dims). Returns it and the std."""
    var, mean = torch.var_mean(x, dim=dims, correction=0, keepdim=True)
    std = (var + eps).sqrt()
    return (x - mean) / std, std


def _total(terms: Iterator[Tensor]) -> Tensor:
    """Sum of scalar tensors (no ``0 +`` op for a single one)."""
    total = None
    for term in terms:
        total = term if total is None else total + term
    return total


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
    return _total(terms)


def _pack_masks(masks: Tensor) -> Tensor:
    """0/1 float masks ``k x shape`` packed into bits: ``ceil(k / 8) x
    shape`` uint8, mask ``j`` in bit ``j % 8`` of byte row ``j // 8``."""
    packed = masks.new_zeros((-(-masks.shape[0] // 8), ) + masks.shape[1:],
                             dtype=torch.uint8)
    for j, mask in enumerate(masks):
        packed[j // 8].bitwise_or_(mask.to(torch.uint8).bitwise_left_shift_(
            j % 8))
    return packed


def _unpack_masks(packed: Tensor, num: int, like: Tensor) -> Tensor:
    """The ``num x like.shape`` float masks :func:`_pack_masks` packed."""
    masks = like.new_empty((num, ) + tuple(like.shape))
    for j, mask in enumerate(masks):
        mask.copy_(packed[j // 8].bitwise_right_shift(j % 8).bitwise_and_(1))
    return masks


class _EagerGradSum(torch.autograd.Function):
    """Sum of scalar terms whose gradients are taken as soon as each term is
    computed, so that one term's autograd graph (the base loss over one
    chunk of avatars) is freed before the next is built and memory stays
    that of one chunk however many there are. Value and gradients are those
    of the plain sum: the backward scales the summed gradients by the
    incoming one (it cannot itself be differentiated).

    ``terms(student)`` yields the terms as functions of ``student``;
    ``params`` are the other tensors they depend on (the base loss'
    learnable parameters).
    """

    @staticmethod
    def forward(ctx, terms: Callable[[Tensor], Iterator[Tensor]],
                student: Tensor, *params: Tensor) -> Tensor:
        leaf = student.detach().requires_grad_(student.requires_grad)
        inputs = (leaf, ) + params
        wanted = [i for i, t in enumerate(inputs) if t.requires_grad]
        sums: List[Optional[Tensor]] = [None] * len(inputs)
        values = []
        with torch.enable_grad():
            for term in terms(leaf):
                if term.requires_grad:
                    grads = torch.autograd.grad(
                        term, [inputs[i] for i in wanted], allow_unused=True)
                    for i, grad in zip(wanted, grads):
                        if grad is not None:
                            sums[i] = grad if sums[i] is None else \
                                sums[i].add_(grad)
                values.append(term.detach())
        ctx.save_for_backward(*sums)
        return _total(values)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_total: Tensor) -> tuple:
        return (None, ) + tuple(None if g is None else g * grad_total
                                for g in ctx.saved_tensors)


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
    a ``compute_many(student_feat, teacher_feats, data_samples)`` method
    (the unweighted mean of its ``compute`` over ``teacher_feats``, k x B x
    ..., for one student; CWD has one) gets each chunk of k avatars in one
    call and does the student side once. Otherwise, if the base is
    ``batch_separable`` (its loss is a mean over samples), the chunk is
    folded into the batch (student repeated k times, ``data_samples`` k
    times) and the base is called once per chunk, which equals the mean
    over those avatars; else (bases using batch statistics, where a folded
    batch would mix the avatars' statistics and change the loss) the base
    is called once per avatar. When N > ``chunk_size`` and gradients are
    needed, each chunk's gradient (to the student and to the base's
    parameters) is taken as soon as its loss is computed and the chunk's
    graph is freed, so the memory is that of one chunk, not of N avatars;
    the gradients are those of the sum (the loss can then not be
    differentiated twice). ``sigma`` needs every avatar before the first
    loss: it is accumulated chunk by chunk from the draws (for dropout in
    closed form from the per-element count K of kept masks,
    ``sum_i (a_i - ft)^2 = ft^2 (q^2 K + N - K)`` with ``q = p / (1 -
    p)``; for gaussian avatars from ``sum_i z_i^2``). When there is more
    than one chunk, the dropout masks are kept packed eight avatars to a
    byte (N / 8 bytes per feature element, an eighth of one float avatar
    at N = 16) and unpacked for the loss; gaussian draws cannot be packed,
    so the generator is rewound and the same draws are made again.
    Chunking therefore changes neither the avatars nor the loss (up to
    float rounding), only the memory and, when N > ``chunk_size``, the
    cost of the packing (dropout) or of drawing twice (gaussian).

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

    def __init__(self,
                 base,
                 num_avatars: int = 8,
                 drop_prob: float = 0.1,
                 uncertainty: str = 'channel',
                 perturbation: str = 'dropout',
                 noise_std: Optional[float] = None,
                 eps: float = 1e-6,
                 seed: Optional[int] = None,
                 chunk_size: int = _DEFAULT_CHUNK_SIZE,
                 loss_weight: float = 1.0) -> None:
        super().__init__(loss_weight=loss_weight)
        for name, value in (('num_avatars', num_avatars),
                            ('chunk_size', chunk_size)):
            if not isinstance(value, int) or isinstance(value, bool) \
                    or value < 1:
                raise ValueError(f'AvatarLoss: {name} must be an int >= 1, '
                                 f'got {value!r}')
        if not isinstance(drop_prob, Number) or isinstance(drop_prob, bool) \
                or not 0 <= drop_prob < 1:
            raise ValueError('AvatarLoss: drop_prob must be a number in '
                             f'[0, 1), got {drop_prob!r}')
        if uncertainty not in _UNCERTAINTY_MODES:
            raise ValueError(f'AvatarLoss: unknown uncertainty '
                             f'{uncertainty!r}; choose one of '
                             f'{", ".join(_UNCERTAINTY_MODES)}')
        if perturbation not in _PERTURBATIONS:
            raise ValueError(f'AvatarLoss: unknown perturbation '
                             f'{perturbation!r}; choose one of '
                             f'{", ".join(_PERTURBATIONS)}')
        if noise_std is not None and perturbation != 'gaussian':
            raise ValueError(
                'AvatarLoss: noise_std only applies to '
                f"perturbation='gaussian' (got perturbation={perturbation!r}"
                '); remove it or switch the perturbation')
        if seed is not None and (not isinstance(seed, int) or isinstance(
                seed, bool) or not 0 <= seed <= _MAX_SEED):
            raise ValueError('AvatarLoss: seed must be None or an int in '
                             f'[0, 2**64 - 1], got {seed!r}')
        self.num_avatars = num_avatars
        self.chunk_size = chunk_size
        self.drop_prob = float(drop_prob)
        self.uncertainty = uncertainty
        self.perturbation = perturbation
        if noise_std is None:
            noise_std = (self.drop_prob / (1 - self.drop_prob))**0.5
        self.noise_std = check_non_negative('AvatarLoss', 'noise_std',
                                            noise_std)
        self.eps = check_positive('AvatarLoss', 'eps', eps)
        self.base = _build_base(base)

        self.accepts_maps = self.base.accepts_maps
        self.accepts_vectors = self.base.accepts_vectors and \
            uncertainty in ('channel', 'none')
        if not (self.accepts_maps or self.accepts_vectors):
            raise ValueError(
                f'AvatarLoss: base {type(self.base).__name__} takes only '
                f'B x D vectors, but uncertainty={uncertainty!r} needs '
                "B x C x H x W maps; use uncertainty='channel' or 'none'")

        self._seed = seed
        self._generator = None
        self._loaded_state = None  # (generator state, device type)

    # ------------------------------------------------------------ randomness
    def _resolved_seed(self, shape: Sequence[int]) -> int:
        if self._seed is None:
            # multiplicative hashing of the run's seed and the shape
            seed = torch.initial_seed()
            for size in (0x632BE59BD9B4E019, *shape):
                seed = (seed * 0x9E3779B97F4A7C15 + size) % 2**64
            self._seed = seed % 2**63
        return self._seed

    def generator(self, feat: Tensor) -> torch.Generator:
        """The avatar generator on ``feat``'s device (created at first use,
        seeded as the class doc says)."""
        device = feat.device
        gen = self._generator
        if gen is not None and gen.device == device:
            return gen
        gen = torch.Generator(device=device)
        loaded, self._loaded_state = self._loaded_state, None
        if loaded is not None and loaded[1] == device.type:
            gen.set_state(loaded[0])
        else:
            gen.manual_seed(self._resolved_seed(feat.shape))
        # ranks > 0 of a multi-process run draw their own stream
        self._generator = decorrelate_across_ranks(gen)
        return gen

    def get_extra_state(self) -> dict:
        if self._generator is not None:
            state = self._generator.get_state()
            device_type = self._generator.device.type
        elif self._loaded_state is not None:
            state, device_type = self._loaded_state
        else:
            state = device_type = None
        return dict(seed=self._seed,
                    generator_state=state,
                    device_type=device_type)

    def set_extra_state(self, state: dict) -> None:
        if not isinstance(state, dict) or 'seed' not in state:
            raise ValueError('AvatarLoss: the _extra_state entry of the '
                             'state dict is not one saved by AvatarLoss')
        self._seed = state['seed']
        self._generator = None
        self._loaded_state = None
        if state.get('generator_state') is not None:
            self._loaded_state = (state['generator_state'].cpu(),
                                  state['device_type'])

    # --------------------------------------------------------------- avatars
    def _chunk_sizes(self) -> List[int]:
        n, k = self.num_avatars, self.chunk_size
        return [min(k, n - start) for start in range(0, n, k)]

    def _draw(self, ft: Tensor, gen: torch.Generator, num: int) -> Tensor:
        """The raw draws of the next ``num`` avatars, ``num x ft.shape``
        float32: 0/1 keep masks (dropout: thresholded uniforms, i.e.
        Bernoulli(1 - p)) or standard normals (gaussian). One generator call
        per avatar, so the stream does not depend on the chunk size."""
        noise = ft.new_empty((num, ) + tuple(ft.shape))
        for one in noise:
            if self.perturbation == 'dropout':
                one.uniform_(generator=gen)
            else:
                one.normal_(generator=gen)
        if self.perturbation == 'dropout':
            noise.ge_(self.drop_prob)
        return noise

    @staticmethod
    def _rms(ft: Tensor) -> Tensor:
        """Per-channel RMS over batch and positions, keepdim."""
        dims = tuple(d for d in range(ft.dim()) if d != 1)
        return ft.square().mean(dim=dims, keepdim=True).sqrt()

    def _affine(self, ft: Tensor, scale) -> Tuple[Tensor, Optional[Tensor]]:
        """``(gain, offset)`` such that ``avatar / scale = draw * gain +
        offset`` (no offset for dropout)."""
        if self.perturbation == 'dropout':
            return ft / ((1 - self.drop_prob) * scale), None
        return self.noise_std * self._rms(ft) / scale, ft / scale

    def make_avatars(self, teacher_feat: Tensor) -> Tensor:
        """The next N avatars of the (detached) teacher feature, the ones a
        call of the loss would draw, unnormalised, float32, stacked along a
        new dim 0: N x B x C x H x W (or N x B x D)."""
        ft = teacher_feat.detach().float()
        noise = self._draw(ft, self.generator(ft), self.num_avatars)
        gain, offset = self._affine(ft, 1.)
        noise.mul_(gain)
        return noise if offset is None else noise.add_(offset)

    # ----------------------------------------------------------- uncertainty
    def _sigma(self, stat: Tensor, ft: Tensor) -> Tensor:
        """sigma from ``stat``, the per-element sum over the N avatars of
        the kept masks (dropout, the count K) or of ``z_i^2`` (gaussian);
        dead channels (sigma^2 = 0) get 1 (see the class doc)."""
        n = self.num_avatars
        if self.perturbation == 'dropout':
            q = self.drop_prob / (1 - self.drop_prob)
            # sum_i (a_i - ft)^2: the K kept entries deviate by q ft, the
            # N - K dropped ones by -ft (two non-negative terms: no
            # cancellation)
            sq_dev = ft.square().mul_((n - stat).add_(stat, alpha=q * q))
        else:
            sq_dev = stat * (self.noise_std * self._rms(ft)).square()
        if self.uncertainty == 'channel':
            dims = tuple(d for d in range(ft.dim()) if d != 1)
        else:
            dims = (0, 1)
        var = sq_dev.mean(dim=dims, keepdim=True).div_(n)
        return torch.where(var > 0, var + self.eps, 1.).sqrt_()

    def _scan(self, ft: Tensor, gen: torch.Generator) -> Tuple[Tensor, list]:
        """First pass: sigma from the N avatars' draws, accumulated chunk by
        chunk. Also returns what the second pass takes the same draws from,
        one entry per chunk: the draws themselves if all N are one chunk;
        for dropout over several chunks the keep masks packed eight avatars
        to a byte (:func:`_pack_masks`, N / 8 bytes per feature element);
        else nothing (the caller rewinds the generator and draws them
        again)."""
        stat, kept = 0., []
        sizes = self._chunk_sizes()
        for num in sizes:
            noise = self._draw(ft, gen, num)
            part = noise.sum(0) if self.perturbation == 'dropout' else \
                noise.square().sum(0)
            stat = part if len(sizes) == 1 else stat + part
            if len(sizes) == 1:
                kept.append(noise)
            elif self.perturbation == 'dropout':
                kept.append(_pack_masks(noise))
        return self._sigma(stat, ft), kept

    def estimate_sigma(self, teacher_feat: Tensor) -> Tensor:
        """sigma ('channel': 1 x C x 1 x 1 or 1 x D, 'spatial':
        1 x 1 x H x W) from the next N avatars, as a call of the loss
        computes it; advances the generator as a call does."""
        if self.uncertainty not in ('channel', 'spatial'):
            raise ValueError("AvatarLoss: estimate_sigma needs uncertainty "
                             f"'channel' or 'spatial', not "
                             f'{self.uncertainty!r}')
        ft = teacher_feat.detach().float()
        return self._scan(ft, self.generator(ft))[0]

    # ------------------------------------------------------------------ loss
    def _avatar_chunks(self, ft: Tensor, gen: torch.Generator, sigma,
                       kept: list, stds: list) -> Iterator[Tensor]:
        """Second pass: the normalised avatars, one chunk at a time, from
        the draws ``kept`` by :meth:`_scan` (else drawn anew); for
        'batchnorm' the sum of each chunk's stds is appended to ``stds``."""
        gain, offset = self._affine(ft, sigma)
        for index, num in enumerate(self._chunk_sizes()):
            if not kept:
                avatars = self._draw(ft, gen, num)
            elif kept[index].dtype == torch.uint8:
                avatars = _unpack_masks(kept[index], num, ft)
            else:
                avatars = kept[index]
            avatars.mul_(gain)
            if offset is not None:
                avatars.add_(offset)
            if self.uncertainty == 'batchnorm':
                avatars, std = _standardise(avatars, (1, 3, 4), self.eps)
                stds.append(std.sum())
            yield avatars

    def _chunk_loss(self, student: Tensor, avatars: Tensor,
                    data_samples: Optional[Sequence], passed: dict) -> Tensor:
        """One chunk's share of ``(1/N) sum_i L_base(student, avatar_i)``;
        the base's log vars, weighted alike, are added to ``passed``."""
        base, k = self.base, avatars.shape[0]
        share = k / self.num_avatars
        if getattr(base, 'compute_many', None) is not None:
            calls = [(share, lambda: base.loss_weight * base.compute_many(
                student, avatars, data_samples))]
        elif base.batch_separable:
            folded = student.repeat(k, *([1] * (student.dim() - 1)))
            samples = None if data_samples is None else \
                list(data_samples) * k
            calls = [(share, partial(base, folded, avatars.flatten(0, 1),
                                     samples))]
        else:
            calls = [(1 / self.num_avatars,
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
        if self.num_avatars > self.chunk_size and torch.is_grad_enabled() \
                and (student.requires_grad or params):
            total = _EagerGradSum.apply(terms, student, *params)
        else:
            total = _total(terms(student))
        for key, value in passed.items():
            self.record_log_var(key, value)
        return total

    def compute(self,
                student_feat: Tensor,
                teacher_feat: Tensor,
                data_samples: Optional[Sequence] = None) -> Tensor:
        with torch.autocast(teacher_feat.device.type, enabled=False):
            ft = teacher_feat.detach().float()
            fs = student_feat.float()
            gen = self.generator(ft)
            sigma, kept, stds = 1., [], []
            if self.uncertainty in ('channel', 'spatial'):
                rewind = gen.get_state()
                sigma, kept = self._scan(ft, gen)
                if not kept:  # draw the same avatars again
                    gen.set_state(rewind)
                fs = fs / sigma
            elif self.uncertainty == 'batchnorm':
                fs, _ = _standardise(fs, (0, 2, 3), self.eps)
            chunks = self._avatar_chunks(ft, gen, sigma, kept, stds)
            loss = self._ensemble(fs, chunks, data_samples)
        if self.uncertainty == 'batchnorm':
            uncertainty = sum(stds) / (self.num_avatars * ft.shape[1])
        elif self.uncertainty == 'none':
            uncertainty = ft.new_ones(())
        else:
            uncertainty = sigma.mean()
        self.record_log_var('uncertainty', uncertainty)
        return loss
