# Copyright (c) mmkd contributors. All rights reserved.
from numbers import Number
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor

from mmkd.registry import MODELS
from .base import BaseFeatureLoss
from .utils import check_non_negative, check_positive

_UNCERTAINTY_MODES = ('channel', 'spatial', 'none', 'batchnorm')
_PERTURBATIONS = ('dropout', 'gaussian')
_MAX_SEED = 2**64 - 1


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


@MODELS.register_module()
class AvatarLoss(BaseFeatureLoss):
    """Avatar Knowledge Distillation (Zhang et al., "Avatar Knowledge
    Distillation: Self-ensemble Teacher Paradigm with Uncertainty", ACM MM
    2023, arXiv 2305.02722): wraps any feature loss ``L_base``.

    Per call, with teacher feature ``ft`` (detached) and student ``fs``:

    1. Avatars ``a_i``, ``i = 1..N``: perturbed copies of ``ft``, made in
       one batched op (N x B x C x H x W) and applied in eval mode too.
       ``perturbation='dropout'`` (paper, default): element-wise dropout
       ``a_i = m_i * ft / (1 - p)``, ``m_i ~ Bernoulli(1 - p)``.
       ``perturbation='gaussian'``: ``a_i = ft + noise_std * r * z_i``,
       ``z_i ~ N(0, 1)`` element-wise, ``r`` the per-channel RMS of ``ft``
       (over batch and positions). ``noise_std=None`` picks
       ``sqrt(p / (1 - p))``, which gives the dropout avatars' expected
       per-channel variance ``p / (1 - p) * E[ft^2]``.
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
         BatchNorm). With ``num_avatars=1`` (and ``eps=1e-5``, BatchNorm2d's
         default) this is that code.
    3. Loss (the paper's average over the avatar ensemble):
       ``L = loss_weight * (1/N) sum_i L_base(fs / sigma, a_i / sigma)``.

    ``L_base`` includes the base's own ``loss_weight`` (configure the base
    as usual); this loss's ``loss_weight`` multiplies on top (default 1).
    If the base is ``batch_separable`` (its loss is a mean over samples),
    the N avatars are folded into the batch (student repeated N times,
    ``data_samples`` repeated N times) and the base is called once, which
    equals the mean over avatars. Otherwise (bases using batch statistics,
    where a folded batch of N x B samples would mix the avatars' statistics
    and change the loss) the base is called once per avatar.

    After each call the mean uncertainty is recorded as the log variable
    ``'uncertainty'``: mean sigma (1 for ``'none'``; for ``'batchnorm'``
    the mean per-channel std the avatars were divided by). Log variables
    the base records are passed on (averaged over avatars).

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
    decorrelate them). The global random stream is not consumed. Equal
    seeds give identical avatars. The generator state is saved in the
    module's state dict (``_extra_state``), so a resumed run continues the
    same stream on the same device type (on another device type the stream
    restarts from the seed).

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
            'batchnorm'). Defaults to 1e-6. Note that with ``drop_prob=0``
            and ``'channel'``/``'spatial'``, sigma is ``sqrt(eps)``.
        seed (int, optional): seed of the avatar generator. Defaults to
            None (from the run's seed, see above).
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
                 loss_weight: float = 1.0) -> None:
        super().__init__(loss_weight=loss_weight)
        if not isinstance(num_avatars, int) or isinstance(num_avatars, bool) \
                or num_avatars < 1:
            raise ValueError('AvatarLoss: num_avatars must be an int >= 1, '
                             f'got {num_avatars!r}')
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
        self._generator = gen
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
    def make_avatars(self, teacher_feat: Tensor) -> Tensor:
        """N perturbed copies of the (detached) teacher feature, stacked
        along a new dim 0: N x B x C x H x W (or N x B x D)."""
        ft = teacher_feat.detach()
        gen = self.generator(ft)
        shape = (self.num_avatars, ) + tuple(ft.shape)
        if self.perturbation == 'dropout':
            # uniform draws thresholded: the same Bernoulli(1 - p) masks,
            # about twice as fast as bernoulli_ on the CPU
            keep = torch.rand(shape, dtype=ft.dtype, device=ft.device,
                              generator=gen) >= self.drop_prob
            return ft * keep / (1 - self.drop_prob)
        dims = tuple(d for d in range(ft.dim()) if d != 1)
        rms = ft.square().mean(dim=dims, keepdim=True).sqrt()
        noise = torch.randn(shape,
                            dtype=ft.dtype,
                            device=ft.device,
                            generator=gen)
        return noise.mul_(self.noise_std * rms).add_(ft)

    def estimate_sigma(self, avatars: Tensor, teacher_feat: Tensor) -> Tensor:
        """``sqrt(E[(a_i - ft)^2] + eps)`` per channel ('channel') or per
        position ('spatial'), keepdim on the N x B x ... avatar layout."""
        if self.uncertainty == 'channel':
            dims = tuple(d for d in range(avatars.dim()) if d != 2)
        else:
            dims = (0, 1, 2)
        sq = (avatars - teacher_feat.detach()).square_()
        return sq.mean(dim=dims, keepdim=True).add_(self.eps).sqrt_()

    def _normalise(self, student_feat: Tensor, avatars: Tensor,
                   teacher_feat: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Apply the uncertainty to both sides; also return the mean
        uncertainty to log."""
        if self.uncertainty == 'none':
            return student_feat, avatars, avatars.new_ones(())
        if self.uncertainty == 'batchnorm':
            student_feat, _ = _standardise(student_feat, (0, 2, 3), self.eps)
            avatars, std = _standardise(avatars, (1, 3, 4), self.eps)
            return student_feat, avatars, std.mean()
        sigma = self.estimate_sigma(avatars, teacher_feat)
        return student_feat / sigma[0], avatars.div_(sigma), sigma.mean()

    # ------------------------------------------------------------------ loss
    def _base_losses(self, student_feat: Tensor, avatars: Tensor,
                     data_samples: Optional[Sequence]) -> Tensor:
        """Mean over avatars of the (weighted) base loss."""
        n = avatars.shape[0]
        if self.base.batch_separable:
            student = student_feat.repeat(n, *([1] * (student_feat.dim() - 1)))
            samples = None if data_samples is None else list(data_samples) * n
            loss = self.base(student, avatars.flatten(0, 1), samples)
            self._pass_on(self.base.pop_log_vars(), 1)
            return loss
        total = 0.
        passed = {}
        for avatar in avatars:
            total = total + self.base(student_feat, avatar, data_samples)
            for key, value in self.base.pop_log_vars().items():
                passed[key] = passed.get(key, 0.) + value
        self._pass_on(passed, n)
        return total / n

    def _pass_on(self, log_vars: dict, n: int) -> None:
        for key, value in log_vars.items():
            self.record_log_var(key, value / n)

    def compute(self,
                student_feat: Tensor,
                teacher_feat: Tensor,
                data_samples: Optional[Sequence] = None) -> Tensor:
        teacher_feat = teacher_feat.detach()
        avatars = self.make_avatars(teacher_feat)
        student_feat, avatars, uncertainty = self._normalise(
            student_feat, avatars, teacher_feat)
        loss = self._base_losses(student_feat, avatars, data_samples)
        self.record_log_var('uncertainty', uncertainty)
        return loss
