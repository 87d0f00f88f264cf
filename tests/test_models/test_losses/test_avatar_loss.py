# Copyright (c) mmkd contributors. All rights reserved.
import gc
import io
import math
import weakref

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmkd.models.losses import (AvatarLoss, BaseFeatureLoss, CWDLoss,
                                FeatureMSELoss, PKDLoss)
from mmkd.registry import MODELS


@MODELS.register_module(name='AvatarTestWeightedMSE', force=True)
class WeightedMSE(BaseFeatureLoss):
    """Test-only batch-separable loss that reads ``data_samples``:
    ``mean_b w_b * mean((s_b - t_b)^2)`` with ``w_b = data_samples[b]``."""
    accepts_vectors = True

    def compute(self, student_feat, teacher_feat, data_samples=None):
        per_sample = (student_feat - teacher_feat).pow(2).flatten(1).mean(1)
        if data_samples is not None:
            per_sample = per_sample * torch.tensor(data_samples)
        self.record_log_var('calls', torch.tensor(1.))
        return per_sample.mean()


@MODELS.register_module(name='AvatarTestVectorsOnly', force=True)
class VectorsOnly(WeightedMSE):
    accepts_maps = False


@MODELS.register_module(name='AvatarTestNotALoss', force=True)
class NotALoss(nn.Module):
    pass


def build(**kwargs):
    cfg = dict(type='mmkd.AvatarLoss',
               base=dict(type='mmkd.AvatarTestWeightedMSE'), seed=0)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def feats(shape=(2, 3, 4, 5), seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=g), torch.randn(shape, generator=g))


def channel_sigma_loop(avatars, ft, eps):
    """Per-channel sigma by explicit loops over avatars and channels."""
    c = ft.shape[1]
    sigma = torch.empty(c)
    for ch in range(c):
        acc = 0.
        for a in avatars:
            acc += ((a[:, ch] - ft[:, ch])**2).mean().item()
        sigma[ch] = math.sqrt(acc / len(avatars) + eps)
    return sigma.view(1, c, 1, 1)


# ------------------------------------------------------------------ avatars
def test_dropout_avatars_mean_approaches_teacher():
    loss = build(num_avatars=4000, drop_prob=0.1)
    ft = torch.randn(2, 3, 4, 4)
    avatars = loss.make_avatars(ft)
    assert avatars.shape == (4000, 2, 3, 4, 4)
    # each element is 0 or ft / (1 - p)
    scaled = ft / 0.9
    assert torch.all((avatars == 0)
                     | torch.isclose(avatars, scaled.expand_as(avatars)))
    # dropped fraction close to p (std of the estimate ~ 0.0008)
    assert abs((avatars == 0).float().mean().item() - 0.1) < 0.005
    # per element, the mean of N avatars has std |ft| * sqrt(p/(1-p)/N)
    # = 0.0053 |ft|; allow 5 std
    tol = 5 * ft.abs() * math.sqrt(0.1 / 0.9 / 4000) + 1e-6
    assert torch.all((avatars.mean(0) - ft).abs() <= tol)


def test_channel_sigma_matches_dropout_variance():
    p = 0.1
    loss = build(num_avatars=32, drop_prob=p, eps=1e-6)
    twin = build(num_avatars=32, drop_prob=p, eps=1e-6)
    ft = torch.randn(4, 6, 16, 16) * torch.arange(1., 7.).view(1, 6, 1, 1)
    sigma = loss.estimate_sigma(ft)
    assert sigma.shape == (1, 6, 1, 1)
    expected = p / (1 - p) * ft.pow(2).mean(dim=(0, 2, 3))
    # relative std of each estimate ~ 0.04 (32 x 4 x 256 draws); 15 % tol
    torch.testing.assert_close(
        sigma.view(6)**2 - 1e-6, expected, rtol=0.15, atol=0)
    # and equal to a loop-based computation on the same avatars
    torch.testing.assert_close(
        sigma, channel_sigma_loop(twin.make_avatars(ft), ft, 1e-6))


def test_spatial_sigma_matches_dropout_variance():
    p = 0.2
    loss = build(num_avatars=64, drop_prob=p, uncertainty='spatial')
    twin = build(num_avatars=64, drop_prob=p, uncertainty='spatial')
    ft = torch.randn(4, 32, 3, 3) * torch.arange(1., 10.).view(1, 1, 3, 3)
    sigma = loss.estimate_sigma(ft)
    assert sigma.shape == (1, 1, 3, 3)
    expected = p / (1 - p) * ft.pow(2).mean(dim=(0, 1))
    torch.testing.assert_close(
        sigma.view(3, 3)**2 - 1e-6, expected, rtol=0.15, atol=0)
    avatars = twin.make_avatars(ft)
    direct = ((avatars - ft)**2).mean(dim=(0, 1, 2)).add(1e-6).sqrt()
    torch.testing.assert_close(sigma.view(3, 3), direct)


def test_gaussian_avatars():
    loss = build(num_avatars=2000, perturbation='gaussian', noise_std=0.5)
    twin = build(num_avatars=2000, perturbation='gaussian', noise_std=0.5)
    ft = torch.randn(2, 3, 4, 4) * torch.tensor([1., 2., 4.]).view(1, 3, 1, 1)
    avatars = loss.make_avatars(ft)
    rms = ft.pow(2).mean(dim=(0, 2, 3)).sqrt()
    # mean over avatars: std 0.5 * rms / sqrt(2000); allow 5 std
    tol = 5 * 0.5 * rms.view(1, 3, 1, 1) / math.sqrt(2000)
    assert torch.all((avatars.mean(0) - ft).abs() <= tol)
    sigma = twin.estimate_sigma(ft)
    torch.testing.assert_close(sigma.view(3), 0.5 * rms, rtol=0.03, atol=0)
    torch.testing.assert_close(sigma, channel_sigma_loop(avatars, ft, 1e-6))
    # noise_std=None matches dropout's expected variance p / (1 - p)
    assert build(perturbation='gaussian',
                 drop_prob=0.2).sampler.noise_std == pytest.approx(0.5)
    with pytest.raises(ValueError, match="'channel' or 'spatial'"):
        build(uncertainty='none').estimate_sigma(ft)


# --------------------------------------------------------------- loss values
def test_one_clean_avatar_without_uncertainty_is_the_base_loss():
    fs, ft = feats()
    for base in (dict(type='mmkd.CWDLoss', tau=2.0,
                      loss_weight=3.0), dict(type='mmkd.FeatureMSELoss')):
        ref = MODELS.build(base)(fs, ft)
        # with p = 0 every avatar is the teacher: no uncertainty anywhere,
        # so 'channel' and 'spatial' leave both sides unscaled too
        for mode in ('none', 'channel', 'spatial'):
            loss = build(base=base, num_avatars=1, drop_prob=0.0,
                         uncertainty=mode)
            # CWD splits the KL over avatars: equal up to float rounding
            torch.testing.assert_close(loss(fs, ft), ref)
            assert loss.pop_log_vars()['uncertainty'].item() == 1.0


def test_channel_loss_matches_loop_reference():
    fs, ft = feats((3, 4, 5, 5))
    base = CWDLoss(tau=1.0, loss_weight=2.0)
    twin = build(num_avatars=5, drop_prob=0.3, seed=7)
    avatars = twin.make_avatars(ft)
    sigma = channel_sigma_loop(avatars, ft, 1e-6)
    ref = sum(base(fs / sigma, a / sigma) for a in avatars) / 5
    for chunk_size in (2, 5):  # in chunks (avatars drawn twice) and at once
        loss = build(
            base=dict(type='mmkd.CWDLoss', tau=1.0,
                      loss_weight=2.0), num_avatars=5, drop_prob=0.3, seed=7,
            chunk_size=chunk_size, loss_weight=0.5)
        torch.testing.assert_close(loss(fs, ft), 0.5 * ref)
        logged = loss.pop_log_vars()['uncertainty']
        torch.testing.assert_close(logged, sigma.mean())


def test_batchnorm_variant_matches_direct_computation():
    fs, ft = feats((4, 3, 5, 5))
    fs.requires_grad_(True)
    eps = 1e-5
    loss = build(
        base=dict(type='mmkd.FeatureMSELoss'), num_avatars=1,
        uncertainty='batchnorm', eps=eps, seed=3)
    twin = build(num_avatars=1, seed=3)
    avatar = twin.make_avatars(ft)[0]

    def by_hand(x):
        mean = x.mean(dim=(0, 2, 3), keepdim=True)
        var = ((x - mean)**2).mean(dim=(0, 2, 3), keepdim=True)
        return (x - mean) / torch.sqrt(var + eps)

    ref = F.mse_loss(by_hand(fs), by_hand(avatar))
    out = loss(fs, ft)
    torch.testing.assert_close(out, ref)
    # the public code: a non-affine BatchNorm2d in training mode
    bn = nn.BatchNorm2d(3, affine=False, eps=eps).train()
    fs2 = fs.detach().clone().requires_grad_(True)
    F.mse_loss(bn(fs2), bn(avatar)).backward()
    out.backward()
    torch.testing.assert_close(fs.grad, fs2.grad)
    std = torch.sqrt(avatar.var(dim=(0, 2, 3), unbiased=False) + eps)
    torch.testing.assert_close(loss.pop_log_vars()['uncertainty'], std.mean())
    # several avatars: each standardised by its own batch statistics
    multi = build(
        base=dict(type='mmkd.FeatureMSELoss'), num_avatars=3,
        uncertainty='batchnorm', eps=eps, seed=3)
    avatars = build(num_avatars=3, seed=3).make_avatars(ft)
    ref = sum(F.mse_loss(by_hand(fs), by_hand(a)) for a in avatars) / 3
    torch.testing.assert_close(multi(fs, ft), ref)


def test_fold_equals_per_avatar_loop():
    fs, ft = feats((3, 4, 5, 5))
    weights = [0.5, 1.0, 2.0]
    for base in (dict(type='mmkd.AvatarTestWeightedMSE'),
                 dict(type='mmkd.PKDLoss',
                      stats='sample'), dict(type='mmkd.CWDLoss', tau=1.5)):
        default = build(base=base, num_avatars=4, seed=11)
        folded = build(base=base, num_avatars=4, seed=11)
        looped = build(base=base, num_avatars=4, seed=11)
        assert folded.base.batch_separable
        # CWD shares the student side by default: also fold and loop it
        folded.base.computes_many = looped.base.computes_many = False
        looped.base.batch_separable = False
        samples = weights if 'Weighted' in base['type'] else None
        ref = looped(fs, ft, samples)
        torch.testing.assert_close(folded(fs, ft, samples), ref)
        torch.testing.assert_close(default(fs, ft, samples), ref)
    # the base's log vars are passed on, averaged over avatars
    assert folded.pop_log_vars().keys() == {'uncertainty'}
    weighted = build(num_avatars=4)
    weighted(fs, ft)
    assert weighted.pop_log_vars()['calls'].item() == 1.0


def test_cwd_shares_the_student_side():
    # CWDLoss.compute_many: the mean of its loss over k teachers, one call
    fs, ft = feats((2, 3, 4, 5))
    teachers = torch.stack([ft, 2 * ft, ft.flip(-1)])
    cwd = CWDLoss(tau=2.0)
    ref = sum(cwd(fs, t) for t in teachers) / 3
    torch.testing.assert_close(cwd.compute_many(fs, teachers), ref)


def test_non_separable_base_is_called_per_avatar():
    fs, ft = feats((4, 3, 5, 5))
    loss = build(base=dict(type='mmkd.PKDLoss'), num_avatars=3, seed=5)
    assert not loss.base.batch_separable
    avatars = build(num_avatars=3, seed=5).make_avatars(ft)
    sigma = channel_sigma_loop(avatars, ft, 1e-6)
    pkd = PKDLoss()
    ref = sum(pkd(fs / sigma, a / sigma) for a in avatars) / 3
    torch.testing.assert_close(loss(fs, ft), ref)
    # folding would have mixed the avatars' batch statistics
    folded = pkd(torch.cat([fs / sigma] * 3), (avatars / sigma).flatten(0, 1))
    assert not torch.allclose(folded, ref)


def test_vectors():
    fs, ft = feats((6, 8))
    loss = build(base=dict(type='mmkd.FeatureMSELoss'), num_avatars=3)
    avatars = build(num_avatars=3).make_avatars(ft)
    sigma = ((avatars - ft)**2).mean(dim=(0, 1)).add(1e-6).sqrt()
    ref = sum(F.mse_loss(fs / sigma, a / sigma) for a in avatars) / 3
    torch.testing.assert_close(loss(fs, ft), ref)
    for mode in ('spatial', 'batchnorm'):
        with pytest.raises(ValueError, match='4-D'):
            build(base=dict(type='mmkd.FeatureMSELoss'), uncertainty=mode)(fs,
                                                                           ft)
    with pytest.raises(ValueError, match='4-D'):  # base takes maps only
        build(base=dict(type='mmkd.CWDLoss'))(fs, ft)


def test_gradients_reach_student_only():
    fs, ft = feats()
    fs.requires_grad_(True)
    ft.requires_grad_(True)
    for mode in ('channel', 'spatial', 'none', 'batchnorm'):
        fs.grad = None
        build(uncertainty=mode)(fs, ft).backward()
        assert ft.grad is None
        assert fs.grad is not None and fs.grad.abs().sum() > 0


def test_avatars_in_eval_mode():
    fs, ft = feats()
    loss = build(drop_prob=0.5).eval()
    assert (loss.make_avatars(ft) == 0).any()


# ------------------------------------------------------------ dead channels
def test_dead_channel_is_left_unscaled():
    fs, ft = feats((3, 4, 5, 5))
    ft[:, 2] = 0.  # a channel the teacher never activates
    avatars = build(num_avatars=6, seed=2).make_avatars(ft)
    assert torch.all(avatars[:, :, 2] == 0)
    sigma = channel_sigma_loop(avatars, ft, 1e-6)
    # sqrt(eps) would multiply the student there by 1000
    assert sigma[0, 2, 0, 0].item() == pytest.approx(1e-3)
    sigma[0, 2] = 1.
    torch.testing.assert_close(
        build(num_avatars=6, seed=2).estimate_sigma(ft), sigma)
    ref = sum(F.mse_loss(fs / sigma, a / sigma) for a in avatars) / 6
    fs.requires_grad_(True)
    out = build(base=dict(type='mmkd.FeatureMSELoss'), num_avatars=6,
                seed=2)(fs, ft)
    torch.testing.assert_close(out, ref)
    out.backward()
    # the dead channel's gradient is the plain MSE's, 2 fs / numel
    torch.testing.assert_close(fs.grad[:, 2],
                               2 * fs.detach()[:, 2] / fs.numel())
    # gaussian avatars of a dead channel are the teacher too
    gauss = build(perturbation='gaussian').estimate_sigma(ft)
    assert gauss[0, 2].item() == 1.0 and torch.all(gauss[0, :2] < 1)
    # 'spatial': a position where every channel of every sample is zero
    ft = feats((2, 3, 4, 4))[1]
    ft[:, :, 1, 2] = 0.
    avatars = build(num_avatars=4, seed=5).make_avatars(ft)
    direct = ((avatars - ft)**2).mean(dim=(0, 1, 2)).add(1e-6).sqrt()
    direct[1, 2] = 1.
    sigma = build(uncertainty='spatial', num_avatars=4,
                  seed=5).estimate_sigma(ft)
    torch.testing.assert_close(sigma.view(4, 4), direct)


# --------------------------------------------------------------- precision
@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_autocast_matches_float32(dtype):
    # under autocast the features arrive in half precision (the convs that
    # make them run in it); teacher channels of magnitude up to 1e4
    # overflow (a_i - ft)^2 in float16 and lose the statistics in bfloat16
    g = torch.Generator().manual_seed(0)
    scale = torch.logspace(-2, 4, 6).view(1, 6, 1, 1)  # 0.01 .. 1e4
    ft = (torch.randn(2, 6, 8, 8, generator=g) * scale).clamp(-1e4, 1e4)
    fs = torch.randn(2, 6, 8, 8, generator=g) * scale
    ft, fs = ft.to(dtype), fs.to(dtype).requires_grad_(True)
    assert ft.abs().max() > 5e3
    base = dict(type='mmkd.CWDLoss', tau=1.0)
    # float32 on the same (exactly representable) values and avatars
    ft32 = ft.float()
    fs32 = fs.detach().float().requires_grad_(True)
    ref = build(base=base, seed=3)(fs32, ft32)
    ref.backward()
    avatars = build(seed=3).make_avatars(ft32)
    sigma = channel_sigma_loop(avatars, ft32, 1e-6)
    by_hand = sum(CWDLoss()(fs32 / sigma, a / sigma) for a in avatars) / 8
    torch.testing.assert_close(ref, by_hand)
    with torch.autocast('cpu', dtype=dtype):
        out = build(base=base, seed=3)(fs, ft)
    assert out.dtype == torch.float32 and torch.isfinite(out)
    torch.testing.assert_close(out, ref, rtol=1e-3, atol=0)
    out.backward()
    assert fs.grad.dtype == dtype and torch.isfinite(fs.grad).all()
    torch.testing.assert_close(fs.grad, fs32.grad.to(dtype))


# ------------------------------------------------------------------ chunks
@pytest.mark.parametrize(
    'kwargs',
    [
        dict(base=dict(type='mmkd.CWDLoss', tau=2.0)),  # folded into the batch
        dict(base=dict(type='mmkd.PKDLoss')),  # per avatar (batch statistics)
        dict(
            base=dict(type='mmkd.MGDLoss', channels=4),
            uncertainty='spatial'),  # learnable base parameters
        dict(
            base=dict(type='mmkd.AvatarTestWeightedMSE'),
            uncertainty='batchnorm'),
        dict(base=dict(type='mmkd.FeatureMSELoss'), perturbation='gaussian'),
        dict(
            base=dict(type='mmkd.CWDLoss'), perturbation='gaussian',
            uncertainty='none'),
    ])
def test_chunks_change_neither_loss_nor_gradients(kwargs):
    fs, ft = feats((3, 4, 5, 5))
    samples = [0.5, 1.0, 2.0] if 'Weighted' in kwargs['base']['type'] \
        else None
    results = []
    # N = 7: one avatar at a time, a non-divisor, all at once, more than N
    for chunk_size in (1, 3, 7, 20):
        torch.manual_seed(0)  # MGD's layers and masks use the global stream
        loss = build(num_avatars=7, seed=4, chunk_size=chunk_size, **kwargs)
        student = fs.clone().requires_grad_(True)
        # two calls: the avatar stream continues alike
        values = [loss(student, ft, samples) for _ in range(2)]
        sum(values).backward()
        grads = [student.grad] + [p.grad for p in loss.base.parameters()]
        results.append((values, grads, loss.pop_log_vars()))
    ref_values, ref_grads, ref_logs = results[2]  # chunk_size = N
    assert all(g is not None for g in ref_grads)
    for values, grads, logs in results:
        torch.testing.assert_close(values, ref_values)
        torch.testing.assert_close(grads, ref_grads)
        torch.testing.assert_close(logs, ref_logs)


def test_chunks_of_more_than_eight_dropout_masks():
    """Masks kept between the passes are packed eight to a byte: chunks of
    10 (two byte rows) give the avatars and loss of one chunk of 19."""
    fs, ft = feats((2, 4, 6, 6))
    results = []
    for chunk_size in (10, 19):
        loss = build(num_avatars=19, seed=3, chunk_size=chunk_size)
        student = fs.clone().requires_grad_(True)
        value = loss(student, ft)
        value.backward()
        results.append((value, student.grad))
    torch.testing.assert_close(results[0], results[1])


def test_without_gradients_same_value():
    fs, ft = feats()
    fs.requires_grad_(True)
    out = build(num_avatars=5, chunk_size=2, seed=1)(fs, ft)
    with torch.no_grad():
        plain = build(num_avatars=5, chunk_size=2, seed=1)(fs, ft)
    torch.testing.assert_close(plain, out.detach())
    # the gradients are taken during the forward: no second derivative
    grad, = torch.autograd.grad(out, fs, create_graph=True)
    assert not grad.requires_grad


def graph_bytes(fn):
    """Run ``fn``; return (peak, end): the most bytes autograd held saved
    for backward at any time during the run, and those held after it."""
    live = dict(now=0, peak=0)

    def release(size):
        live['now'] -= size

    class Saved:

        def __init__(self, tensor):
            self.tensor = tensor

    def pack(tensor):
        saved = Saved(tensor)
        size = tensor.numel() * tensor.element_size()
        live['now'] += size
        live['peak'] = max(live['peak'], live['now'])
        weakref.finalize(saved, release, size)
        return saved

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda s: s.tensor):
        out = fn()
    gc.collect()
    return live['peak'], live['now'], out


def test_memory_is_one_chunk_not_n_avatars():
    fs, ft = feats((2, 8, 16, 16))
    fs.requires_grad_(True)
    feat_bytes = fs.numel() * 4

    def measure(n, chunk_size):
        # a base folded into the batch: its graph grows with the chunk
        loss = build(
            base=dict(type='mmkd.FeatureMSELoss'), num_avatars=n,
            chunk_size=chunk_size)
        peak, end, out = graph_bytes(lambda: loss(fs, ft))
        out.backward()
        return peak, end

    two, _ = measure(2, 2)  # one chunk
    many, many_end = measure(32, 2)  # 16 chunks
    all_at_once, all_end = measure(32, 32)
    # chunks of 2: the same graph memory for 32 avatars as for 2
    assert many == two
    # all 32 at once: about one feature per avatar (the measure sees it)
    assert all_at_once >= 8 * two
    # chunk by chunk, only student-sized tensors stay after the forward;
    # a single chunk keeps its graph for the backward
    assert many_end <= 2 * feat_bytes < all_end


def test_cwd_over_many_avatars_keeps_one_student_graph():
    """CWDLoss.compute_many on detached teachers keeps the graph of one
    student softmax for any k, and gives the mean of the k KLs and its
    gradient (by hand: torch's own kl_div, per teacher)."""
    fs, ft = feats((2, 8, 16, 16))
    cwd = CWDLoss(tau=2.0)

    def by_hand(student, teachers):
        log_q = F.log_softmax(student.flatten(2) / 2.0, -1)
        kls = [
            F.kl_div(log_q, F.log_softmax(t.flatten(2) / 2.0, -1),
                     reduction='sum', log_target=True) for t in teachers
        ]
        return sum(kls) * 4.0 / (8 * 2 * len(teachers))

    sizes = {}
    for k in (2, 32):
        teachers = torch.stack([ft * (1 + i / k) for i in range(k)])
        student = fs.clone().requires_grad_(True)
        sizes[k], _, out = graph_bytes(
            lambda: cwd.compute_many(student, teachers))
        grad, = torch.autograd.grad(out, student)
        ref_student = fs.clone().requires_grad_(True)
        ref = by_hand(ref_student, teachers)
        ref_grad, = torch.autograd.grad(ref, ref_student)
        torch.testing.assert_close(out, ref)
        torch.testing.assert_close(grad, ref_grad)
    assert sizes[32] == sizes[2] <= 3 * fs.numel() * 4
    # teachers that need a gradient take the broadcast path, same value
    teachers = torch.stack([ft, 2 * ft]).requires_grad_(True)
    torch.testing.assert_close(
        cwd.compute_many(fs, teachers), by_hand(fs, teachers))


# -------------------------------------------------------------- randomness
def test_same_seed_same_avatars():
    fs, ft = feats()
    a, b, c = build(seed=1), build(seed=1), build(seed=2)
    assert torch.equal(a.make_avatars(ft), b.make_avatars(ft))
    assert torch.equal(a(fs, ft), b(fs, ft))
    assert not torch.equal(a.make_avatars(ft), c.make_avatars(ft))
    # seed=None: from the run's seed (torch.initial_seed()) at first use
    torch.manual_seed(123)
    d = build(seed=None).make_avatars(ft)
    torch.manual_seed(123)
    e = build(seed=None).make_avatars(ft)
    torch.manual_seed(124)
    f = build(seed=None).make_avatars(ft)
    assert torch.equal(d, e) and not torch.equal(d, f)
    # ... mixed with the first feature's shape: levels of other shapes
    # draw other masks
    torch.manual_seed(123)
    other = build(seed=None).make_avatars(ft[:, :2])
    assert not torch.equal(d.flatten()[:200] == 0, other.flatten()[:200] == 0)
    # the global stream is not consumed
    torch.manual_seed(5)
    build(seed=None)(fs, ft)
    after = torch.rand(3)
    torch.manual_seed(5)
    assert torch.equal(after, torch.rand(3))


def test_state_dict_continues_the_stream():
    fs, ft = feats()
    first = build(seed=None, base=dict(type='mmkd.CWDLoss'))
    torch.manual_seed(9)
    for _ in range(3):
        first(fs, ft)
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    torch.manual_seed(10)  # a different run seed must not matter
    resumed = build(seed=None, base=dict(type='mmkd.CWDLoss'))
    resumed.load_state_dict(state)
    assert torch.equal(first(fs, ft), resumed(fs, ft))
    assert torch.equal(first.make_avatars(ft), resumed.make_avatars(ft))
    # a loss never called saves its seed and continues from it when loaded
    fresh = build(seed=4)
    other = build(seed=8)
    other.load_state_dict(fresh.state_dict())
    assert torch.equal(other.make_avatars(ft), build(seed=4).make_avatars(ft))


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize('kwargs, error, match', [
    (dict(num_avatars=0), ValueError, 'num_avatars'),
    (dict(num_avatars=2.0), ValueError, 'num_avatars'),
    (dict(num_avatars=True), ValueError, 'num_avatars'),
    (dict(chunk_size=0), ValueError, 'chunk_size must be an int >= 1'),
    (dict(chunk_size=1.5), ValueError, 'chunk_size'),
    (dict(chunk_size=None), ValueError, 'chunk_size'),
    (dict(chunk_size=True), ValueError, 'chunk_size'),
    (dict(drop_prob=1.0), ValueError, 'drop_prob'),
    (dict(drop_prob=-0.1), ValueError, 'drop_prob'),
    (dict(drop_prob='0.1'), ValueError, 'drop_prob'),
    (dict(uncertainty='variance'), ValueError,
     'channel, spatial, none, batchnorm'),
    (dict(perturbation='blur'), ValueError, 'dropout, gaussian'),
    (dict(noise_std=0.1), ValueError, "perturbation='gaussian'"),
    (dict(perturbation='gaussian', noise_std=-1.), ValueError, 'noise_std'),
    (dict(eps=0.), ValueError, 'eps'),
    (dict(seed=-1), ValueError, 'seed'),
    (dict(seed='0'), ValueError, 'seed'),
    (dict(loss_weight='1'), TypeError, 'loss_weight'),
    (dict(base=dict(type='mmkd.NoSuchLoss')), KeyError,
     'mmkd.CWDLoss.*mmkd.FeatureMSELoss'),
    (dict(base=dict(type='mmkd.KDLoss')), TypeError, 'not a feature loss'),
    (dict(base=dict(type='mmkd.AvatarTestNotALoss')), TypeError,
     'not a feature loss'),
    (dict(base=dict(tau=1.0)), TypeError, 'config dict'),
    (dict(base='mmkd.CWDLoss'), TypeError, 'config dict'),
    (dict(base=dict(type='mmkd.AvatarTestVectorsOnly'),
          uncertainty='spatial'), ValueError, 'maps'),
    (dict(
        base=dict(type='mmkd.LSHLoss', in_channels=3, mode='l2',
                  teacher_correct_only=True, level_reduction='sum')),
     ValueError, r"needs \['teacher_logits', 'labels'\]"),
])
def test_bad_config_raises_at_build(kwargs, error, match):
    with pytest.raises(error, match=match):
        build(**kwargs)


def test_built_base_and_weights():
    fs, ft = feats()
    base = FeatureMSELoss(loss_weight=3.0)
    a = AvatarLoss(base, num_avatars=2, seed=0, loss_weight=2.0)
    b = AvatarLoss(FeatureMSELoss(), num_avatars=2, seed=0)
    assert a.base is base
    torch.testing.assert_close(a(fs, ft), 6.0 * b(fs, ft))
