# Copyright (c) mmkd contributors. All rights reserved.
"""The avatars of :class:`~mmkd.models.losses.AvatarLoss` and their
uncertainty: the seeded avatar stream (dropout or gaussian perturbations
of the teacher feature), drawn chunk by chunk, and ``sigma`` accumulated
from the draws in a first pass (streamed statistics) before the second
pass hands the normalised avatars to the loss."""
from numbers import Number
from typing import Iterator, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from mmkd.utils.dist import decorrelate_across_ranks
from .utils import check_non_negative, check_positive

UNCERTAINTY_MODES = ('channel', 'spatial', 'none', 'batchnorm')
PERTURBATIONS = ('dropout', 'gaussian')
MAX_SEED = 2**64 - 1


def standardise(x: Tensor, dims: Tuple[int, ...],
                eps: float) -> Tuple[Tensor, Tensor]:
    """``(x - mean) / sqrt(var + eps)`` with the mean and biased variance
    over ``dims`` (what a non-affine BatchNorm2d does in training mode when
    ``dims`` are the batch and spatial dims). Returns it and the std."""
    var, mean = torch.var_mean(x, dim=dims, correction=0, keepdim=True)
    std = (var + eps).sqrt()
    return (x - mean) / std, std


def pack_masks(masks: Tensor) -> Tensor:
    """0/1 float masks ``k x shape`` packed into bits: ``ceil(k / 8) x
    shape`` uint8, mask ``j`` in bit ``j % 8`` of byte row ``j // 8``."""
    packed = masks.new_zeros((-(-masks.shape[0] // 8), ) + masks.shape[1:],
                             dtype=torch.uint8)
    for j, mask in enumerate(masks):
        packed[j // 8].bitwise_or_(
            mask.to(torch.uint8).bitwise_left_shift_(j % 8))
    return packed


def unpack_masks(packed: Tensor, num: int, like: Tensor) -> Tensor:
    """The ``num x like.shape`` float masks :func:`pack_masks` packed."""
    masks = like.new_empty((num, ) + tuple(like.shape))
    for j, mask in enumerate(masks):
        mask.copy_(packed[j // 8].bitwise_right_shift(j % 8).bitwise_and_(1))
    return masks


class AvatarSampler:
    """Draws AvatarLoss' avatars and computes their uncertainty, as
    :class:`~mmkd.models.losses.AvatarLoss` documents them (its steps 1 and
    2, its Cost and its Randomness): the arguments are AvatarLoss' own and
    are validated here, with AvatarLoss' error messages.

    Not a module: its generator state is saved by the loss that owns it
    (:meth:`get_state` / :meth:`set_state`, the loss's ``_extra_state``).
    The defaults are AvatarLoss'.
    """

    def __init__(self, num_avatars: int, drop_prob: float, uncertainty: str,
                 perturbation: str, noise_std: Optional[float], eps: float,
                 seed: Optional[int], chunk_size: int) -> None:
        counts = dict(num_avatars=num_avatars, chunk_size=chunk_size)
        for name, value in counts.items():
            if not isinstance(value, int) or isinstance(value, bool) \
                    or value < 1:
                raise ValueError(f'AvatarLoss: {name} must be an int >= 1, '
                                 f'got {value!r}')
        if not isinstance(drop_prob, Number) or isinstance(drop_prob, bool) \
                or not 0 <= drop_prob < 1:
            raise ValueError('AvatarLoss: drop_prob must be a number in '
                             f'[0, 1), got {drop_prob!r}')
        if uncertainty not in UNCERTAINTY_MODES:
            raise ValueError(f'AvatarLoss: unknown uncertainty '
                             f'{uncertainty!r}; choose one of '
                             f'{", ".join(UNCERTAINTY_MODES)}')
        if perturbation not in PERTURBATIONS:
            raise ValueError(f'AvatarLoss: unknown perturbation '
                             f'{perturbation!r}; choose one of '
                             f'{", ".join(PERTURBATIONS)}')
        if noise_std is not None and perturbation != 'gaussian':
            raise ValueError(
                'AvatarLoss: noise_std only applies to '
                f"perturbation='gaussian' (got perturbation={perturbation!r}"
                '); remove it or switch the perturbation')
        if seed is not None and (not isinstance(seed, int) or isinstance(
                seed, bool) or not 0 <= seed <= MAX_SEED):
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
        seeded as AvatarLoss' doc says)."""
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

    def get_state(self) -> dict:
        """The seed and the generator's state (to resume the stream)."""
        if self._generator is not None:
            state = self._generator.get_state()
            device_type = self._generator.device.type
        elif self._loaded_state is not None:
            state, device_type = self._loaded_state
        else:
            state = device_type = None
        return dict(seed=self._seed, generator_state=state,
                    device_type=device_type)

    def set_state(self, state: dict) -> None:
        """Resume from a :meth:`get_state` dict (the generator is made
        again at first use)."""
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
    def chunk_sizes(self) -> List[int]:
        n, k = self.num_avatars, self.chunk_size
        return [min(k, n - start) for start in range(0, n, k)]

    def draw(self, ft: Tensor, gen: torch.Generator, num: int) -> Tensor:
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
    def rms(ft: Tensor) -> Tensor:
        """Per-channel RMS over batch and positions, keepdim."""
        dims = tuple(d for d in range(ft.dim()) if d != 1)
        return ft.square().mean(dim=dims, keepdim=True).sqrt()

    def affine(self, ft: Tensor, scale) -> Tuple[Tensor, Optional[Tensor]]:
        """``(gain, offset)`` such that ``avatar / scale = draw * gain +
        offset`` (no offset for dropout)."""
        if self.perturbation == 'dropout':
            return ft / ((1 - self.drop_prob) * scale), None
        return self.noise_std * self.rms(ft) / scale, ft / scale

    def make_avatars(self, teacher_feat: Tensor) -> Tensor:
        """The next N avatars of the (detached) teacher feature, the ones a
        call of the loss would draw, unnormalised, float32, stacked along a
        new dim 0: N x B x C x H x W (or N x B x D)."""
        ft = teacher_feat.detach().float()
        noise = self.draw(ft, self.generator(ft), self.num_avatars)
        gain, offset = self.affine(ft, 1.)
        noise.mul_(gain)
        return noise if offset is None else noise.add_(offset)

    # ----------------------------------------------------------- uncertainty
    def sigma(self, stat: Tensor, ft: Tensor) -> Tensor:
        """sigma from ``stat``, the per-element sum over the N avatars of
        the kept masks (dropout, the count K) or of ``z_i^2`` (gaussian);
        dead channels (sigma^2 = 0) get 1 (see AvatarLoss' doc)."""
        n = self.num_avatars
        if self.perturbation == 'dropout':
            q = self.drop_prob / (1 - self.drop_prob)
            # sum_i (a_i - ft)^2: the K kept entries deviate by q ft, the
            # N - K dropped ones by -ft (two non-negative terms: no
            # cancellation)
            sq_dev = ft.square().mul_((n - stat).add_(stat, alpha=q * q))
        else:
            sq_dev = stat * (self.noise_std * self.rms(ft)).square()
        if self.uncertainty == 'channel':
            dims = tuple(d for d in range(ft.dim()) if d != 1)
        else:
            dims = (0, 1)
        var = sq_dev.mean(dim=dims, keepdim=True).div_(n)
        return torch.where(var > 0, var + self.eps, 1.).sqrt_()

    def scan(self, ft: Tensor, gen: torch.Generator) -> Tuple[Tensor, list]:
        """First pass: sigma from the N avatars' draws, accumulated chunk by
        chunk. Also returns what the second pass takes the same draws from,
        one entry per chunk: the draws themselves if all N are one chunk;
        for dropout over several chunks the keep masks packed eight avatars
        to a byte (:func:`pack_masks`, N / 8 bytes per feature element);
        else nothing (the caller rewinds the generator and draws them
        again)."""
        stat, kept = 0., []
        sizes = self.chunk_sizes()
        for num in sizes:
            noise = self.draw(ft, gen, num)
            part = noise.sum(0) if self.perturbation == 'dropout' else \
                noise.square().sum(0)
            stat = part if len(sizes) == 1 else stat + part
            if len(sizes) == 1:
                kept.append(noise)
            elif self.perturbation == 'dropout':
                kept.append(pack_masks(noise))
        return self.sigma(stat, ft), kept

    def estimate_sigma(self, teacher_feat: Tensor) -> Tensor:
        """sigma ('channel': 1 x C x 1 x 1 or 1 x D, 'spatial':
        1 x 1 x H x W) from the next N avatars, as a call of the loss
        computes it; advances the generator as a call does."""
        if self.uncertainty not in ('channel', 'spatial'):
            raise ValueError("AvatarLoss: estimate_sigma needs uncertainty "
                             f"'channel' or 'spatial', not "
                             f'{self.uncertainty!r}')
        ft = teacher_feat.detach().float()
        return self.scan(ft, self.generator(ft))[0]

    def avatar_chunks(self, ft: Tensor, gen: torch.Generator, sigma,
                      kept: list, stds: list) -> Iterator[Tensor]:
        """Second pass: the normalised avatars, one chunk at a time, from
        the draws ``kept`` by :meth:`scan` (else drawn anew); for
        'batchnorm' the sum of each chunk's stds is appended to ``stds``."""
        gain, offset = self.affine(ft, sigma)
        for index, num in enumerate(self.chunk_sizes()):
            if not kept:
                avatars = self.draw(ft, gen, num)
            elif kept[index].dtype == torch.uint8:
                avatars = unpack_masks(kept[index], num, ft)
            else:
                avatars = kept[index]
            avatars.mul_(gain)
            if offset is not None:
                avatars.add_(offset)
            if self.uncertainty == 'batchnorm':
                avatars, std = standardise(avatars, (1, 3, 4), self.eps)
                stds.append(std.sum())
            yield avatars
