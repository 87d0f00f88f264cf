# Copyright (c) mmkd contributors. All rights reserved.
"""KD, DKD, RLD and LDRLD against independent loop-based computations.

The references below work one sample at a time with plain ``softmax`` and
``p * log(p / q)`` (no shared code with the losses); inputs are float64 so
the comparisons can be tight.
"""
import math

import pytest
import torch
from ldrld_reference import ldrld_loss_reference

from mmkd.models.losses import DKDLoss, KDLoss, LDRLDLoss, RLDLoss
from mmkd.registry import MODELS

ALL_LOSSES = [KDLoss, DKDLoss, RLDLoss, LDRLDLoss]


def _logits(batch=6, classes=10, seed=0, scale=3.0):
    gen = torch.Generator().manual_seed(seed)
    zs = torch.randn(batch, classes, generator=gen, dtype=torch.float64)
    zt = torch.randn(batch, classes, generator=gen, dtype=torch.float64)
    labels = torch.randint(0, classes, (batch, ), generator=gen)
    return zs * scale, zt * scale, labels


# ---------------------------------------------------------------- references
def _kl(p, q):
    """KL(p || q) of two probability vectors (1-D), zero-mass terms
    dropped."""
    keep = p > 0
    return (p[keep] * torch.log(p[keep] / q[keep])).sum()


def _softmax(z, t):
    e = torch.exp((z - z.max()) / t)
    return e / e.sum()


def naive_kd(zs, zt, t):
    return sum(t**2 * _kl(_softmax(zt[b], t), _softmax(zs[b], t))
               for b in range(zs.shape[0])) / zs.shape[0]


def _binary(p, i):
    return torch.stack([p[i], 1 - p[i]])


def _restricted_kl(zs, zt, keep, t):
    """KL of the softmaxes over the class indices in ``keep`` (0 if
    empty)."""
    if not keep:
        return torch.zeros((), dtype=zs.dtype)
    return _kl(_softmax(zt[keep], t), _softmax(zs[keep], t))


def naive_dkd(zs, zt, labels, alpha, beta, t):
    total = 0.
    for b in range(zs.shape[0]):
        y = int(labels[b])
        ps, pt = _softmax(zs[b], t), _softmax(zt[b], t)
        tckd = _kl(_binary(pt, y), _binary(ps, y))
        others = [c for c in range(zs.shape[1]) if c != y]
        nckd = _restricted_kl(zs[b], zt[b], others, t)
        total = total + t**2 * (alpha * tckd + beta * nckd)
    return total / zs.shape[0]


def naive_rld(zs, zt, labels, alpha, beta, t, ta):
    total = 0.
    for b in range(zs.shape[0]):
        y = int(labels[b])
        top1 = max(range(zt.shape[1]), key=lambda c: float(zt[b, c]))
        scd = _kl(
            _binary(_softmax(zt[b], ta), top1),
            _binary(_softmax(zs[b], ta), y))
        outside = [c for c in range(zs.shape[1]) if zt[b, c] < zt[b, y]]
        mcd = _restricted_kl(zs[b], zt[b], outside, t)
        total = total + alpha * ta**2 * scd + beta * t**2 * mcd
    return total / zs.shape[0]


def naive_ldrld(zs, zt, alpha, beta, t, d):
    """Independent of ``ldrld_reference``: ranks by a Python sort, pairs by
    explicit exponentials."""
    batch, classes = zs.shape
    total = 0.
    for b in range(batch):
        ranked = sorted(range(classes), key=lambda c: -float(zs[b, c]))
        top, rest = ranked[:d], ranked[d:]
        pairs = 0.
        for a in range(d):
            for c in range(a + 1, d):
                r1, r2 = a + 1, c + 1
                irw = 1.0 / (abs(r1 - r2) + 1.5)
                erd = 2.0 * math.exp(-0.05 * (r1 + r2))
                i, j = top[a], top[c]
                es = torch.exp(torch.stack([zs[b, i], zs[b, j]]) / t)
                et = torch.exp(torch.stack([zt[b, i], zt[b, j]]) / t)
                pairs = pairs + irw * erd * _kl(et / et.sum(), es / es.sum())
        llki = _restricted_kl(zs[b], zt[b], top, t)
        rntk = _restricted_kl(zs[b], zt[b], rest, t)
        norm = d * (d - 1) / 2 + 1
        total = total + t**2 * (alpha * (pairs + llki) / norm + beta * rntk)
    return total / batch


# ------------------------------------------------------------------------ KD
def test_kd_hand_computed_2x3():
    # row 0: pt = [1/4, 1/2, 1/4], ps uniform -> KL = 0.5 * ln(9/8);
    # row 1: identical logits -> KL = 0. batchmean -> 0.25 * ln(9/8).
    zt = torch.tensor([[0., math.log(2.), 0.], [1., 2., 3.]])
    zs = torch.tensor([[0., 0., 0.], [1., 2., 3.]])
    loss = KDLoss(temperature=1.0)(zs, zt, torch.tensor([0, 2]))
    assert loss.item() == pytest.approx(0.25 * math.log(9 / 8), rel=1e-5)


@pytest.mark.parametrize('t', [1.0, 4.0])
def test_kd_matches_loop(t):
    zs, zt, labels = _logits()
    loss = KDLoss(temperature=t, loss_weight=0.5)(zs, zt, labels)
    torch.testing.assert_close(loss, 0.5 * naive_kd(zs, zt, t))


# ----------------------------------------------------------------------- DKD
@pytest.mark.parametrize('alpha,beta,t', [(1., 8., 4.), (0.5, 2., 1.)])
def test_dkd_matches_loop(alpha, beta, t):
    zs, zt, labels = _logits(seed=1)
    loss = DKDLoss(alpha=alpha, beta=beta, temperature=t)(zs, zt, labels)
    torch.testing.assert_close(loss, naive_dkd(zs, zt, labels, alpha, beta, t))


def test_dkd_confident_teacher_is_finite():
    # p_y rounds to 1 in float32: TCKD needs log(1 - p_y) without log(0)
    zs, zt, labels = _logits(seed=2)
    zs, zt = zs.float(), zt.float()
    zt[torch.arange(6), labels] = 500.
    zs.requires_grad_(True)
    loss = DKDLoss()(zs, zt, labels)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(zs.grad).all()


# ----------------------------------------------------------------------- RLD
def test_rld_equals_dkd_when_teacher_right_without_ties():
    zs, zt, _ = _logits(seed=3)
    labels = zt.argmax(1)  # teacher right; continuous logits -> no ties
    rld = RLDLoss(alpha=1.5, beta=8., temperature=4., scd_temperature=4.)
    dkd = DKDLoss(alpha=1.5, beta=8., temperature=4.)
    torch.testing.assert_close(rld(zs, zt, labels), dkd(zs, zt, labels))
    # the default Ta = 1 gives a different SCD, still per the loop
    default = RLDLoss()(zs, zt, labels)
    assert not torch.allclose(default, dkd(zs, zt, labels))
    torch.testing.assert_close(default,
                               naive_rld(zs, zt, labels, 1., 8., 4., 1.))


def test_rld_wrong_teacher_matches_loop():
    zs, zt, _ = _logits(seed=4)
    labels = zt.argmin(1)  # teacher wrong on every sample, truth ranked last
    loss = RLDLoss(alpha=2., beta=3.)(zs, zt, labels)
    assert torch.isfinite(loss)
    torch.testing.assert_close(loss, naive_rld(zs, zt, labels, 2., 3., 4., 1.))
    # truth ranked last: M is every class, so MCD is 0 and only SCD is left
    mcd_only = RLDLoss(alpha=0., beta=1.)(zs, zt, labels)
    assert mcd_only.item() == 0.


def test_rld_partly_wrong_teacher_matches_loop():
    zs, zt, labels = _logits(batch=12, seed=5)
    assert (zt.argmax(1) != labels).any() and (zt.argmax(1) == labels).any()
    loss = RLDLoss(alpha=1., beta=8., temperature=2., scd_temperature=3.)
    torch.testing.assert_close(
        loss(zs, zt, labels), naive_rld(zs, zt, labels, 1., 8., 2., 3.))


def test_rld_ties_finite_and_match_loop():
    gen = torch.Generator().manual_seed(6)
    zs = torch.randn(8, 6, generator=gen, dtype=torch.float64)
    zt = torch.randint(0, 3, (8, 6), generator=gen).double()  # many ties
    labels = torch.randint(0, 6, (8, ), generator=gen)
    zt[0] = 1.  # all classes tied: M covers every class for sample 0
    zs.requires_grad_(True)
    loss = RLDLoss()(zs, zt, labels)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(zs.grad).all()
    torch.testing.assert_close(
        loss.detach(), naive_rld(zs.detach(), zt, labels, 1., 8., 4., 1.))


def test_rld_mask_covers_all_classes_gives_zero_mcd():
    zs = torch.randn(3, 5, requires_grad=True)
    zt = torch.full((3, 5), 2.0)
    labels = torch.tensor([0, 3, 4])
    loss = RLDLoss(alpha=0., beta=8.)(zs, zt, labels)
    loss.backward()
    assert loss.item() == 0.
    assert torch.isfinite(zs.grad).all() and (zs.grad == 0).all()


# --------------------------------------------------------------------- LDRLD
@pytest.mark.parametrize('d,alpha,beta,t', [(7, 1., 1., 4.),
                                            (4, 10.5, 7., 2.)])
def test_ldrld_matches_loop(d, alpha, beta, t):
    zs, zt, labels = _logits(batch=5, classes=12, seed=7)
    loss = LDRLDLoss(alpha=alpha, beta=beta, temperature=t, topk=d)
    expected = naive_ldrld(zs, zt, alpha, beta, t, d)
    torch.testing.assert_close(loss(zs, zt, labels), expected)
    # the benchmark's reference agrees as well
    torch.testing.assert_close(
        ldrld_loss_reference(zs, zt, alpha, beta, t, d), expected)


def test_ldrld_topk_2():
    zs, zt, labels = _logits(batch=4, classes=9, seed=8)
    loss = LDRLDLoss(alpha=3., beta=2., topk=2)(zs, zt, labels)
    torch.testing.assert_close(loss, naive_ldrld(zs, zt, 3., 2., 4., 2))


def test_ldrld_topk_equals_num_classes():
    zs, zt, labels = _logits(batch=4, classes=6, seed=9)
    loss = LDRLDLoss(alpha=2., beta=5., topk=6)(zs, zt, labels)
    torch.testing.assert_close(loss, naive_ldrld(zs, zt, 2., 5., 4., 6))
    # no remaining classes: RNTK is 0, so beta has no effect
    no_beta = LDRLDLoss(alpha=2., beta=0., topk=6)(zs, zt, labels)
    torch.testing.assert_close(loss, no_beta)


def test_ldrld_extreme_logits_finite():
    zs, zt, labels = _logits(batch=4, classes=10, seed=10, scale=300.)
    zs, zt = zs.float().requires_grad_(True), zt.float()
    loss = LDRLDLoss(temperature=1.0)(zs, zt, labels)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(zs.grad).all()
    assert zs.grad.abs().sum() > 0


def test_ldrld_topk_errors():
    with pytest.raises(ValueError, match='topk must be an integer >= 2'):
        LDRLDLoss(topk=1)
    with pytest.raises(ValueError, match='topk must be an integer >= 2'):
        LDRLDLoss(topk=2.0)
    zs, zt, labels = _logits(batch=2, classes=5)
    with pytest.raises(ValueError, match='topk=7 exceeds the 5 classes'):
        LDRLDLoss(topk=7)(zs, zt, labels)


# ------------------------------------------------------------ all the losses
def _build(cls, **kwargs):
    return MODELS.build(dict(type=f'mmkd.{cls.__name__}', **kwargs))


@pytest.mark.parametrize('cls', ALL_LOSSES)
def test_logit_standardization_equals_manual_zscore(cls):
    zs, zt, labels = _logits(seed=11)

    def zscore(z):
        return (z - z.mean(1, keepdim=True)) / z.std(1, keepdim=True)

    with_ls = _build(cls, logit_standardization=True)(zs, zt, labels)
    manual = _build(cls)(zscore(zs), zscore(zt), labels)
    torch.testing.assert_close(with_ls, manual)
    assert not torch.allclose(with_ls, _build(cls)(zs, zt, labels))


@pytest.mark.parametrize('cls', ALL_LOSSES)
@pytest.mark.parametrize('ls', [False, True])
def test_gradients_reach_student_only(cls, ls):
    zs, zt, labels = _logits(seed=12)
    zs = zs.float().requires_grad_(True)
    zt = zt.float().requires_grad_(True)
    loss = _build(cls, logit_standardization=ls)(zs, zt, labels)
    loss.backward()
    assert zs.grad is not None and zs.grad.abs().sum() > 0
    assert torch.isfinite(zs.grad).all()
    assert zt.grad is None


@pytest.mark.parametrize('cls', ALL_LOSSES)
def test_loss_weight_scales(cls):
    zs, zt, labels = _logits(seed=13)
    torch.testing.assert_close(
        _build(cls, loss_weight=2.5)(zs, zt, labels),
        2.5 * _build(cls)(zs, zt, labels))


@pytest.mark.parametrize('cls', ALL_LOSSES)
def test_bad_inputs(cls):
    loss = _build(cls, topk=3) if cls is LDRLDLoss else _build(cls)
    zs, zt, labels = _logits(batch=4, classes=6)
    with pytest.raises(ValueError, match='differ'):
        loss(zs, zt[:, :5], labels)
    with pytest.raises(ValueError, match='labels must lie in'):
        loss(zs, zt, torch.tensor([0, 1, 6, 2]))
    with pytest.raises(ValueError, match='labels must lie in'):
        loss(zs, zt, torch.tensor([0, -1, 2, 2]))
    with pytest.raises(TypeError, match='integer'):
        loss(zs, zt, labels.float())
    with pytest.raises(ValueError, match='B x C logits'):
        loss(torch.randn(4, 6, 3, 3), torch.randn(4, 6, 3, 3), labels)


@pytest.mark.parametrize('cls', ALL_LOSSES)
def test_bad_hyperparameters(cls):
    with pytest.raises(ValueError, match='temperature must be a number > 0'):
        _build(cls, temperature=0.)
    if cls is not KDLoss:
        with pytest.raises(ValueError, match='alpha must be a number >= 0'):
            _build(cls, alpha=-1.)
        with pytest.raises(ValueError, match='beta must be a number >= 0'):
            _build(cls, beta='8')
    if cls is RLDLoss:
        with pytest.raises(ValueError, match='scd_temperature'):
            _build(cls, scd_temperature=-1.)
