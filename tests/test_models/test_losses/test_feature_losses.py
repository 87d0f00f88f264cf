# Copyright (c) mmkd contributors. All rights reserved.
"""Dense feature losses (FitNets MSE, CWD, PKD, MGD, FGD) against naive
loop-based references written here."""
import math

import pytest
import torch

from mmkd.models.losses import (CWDLoss, FeatureMSELoss, FGDLoss, MGDLoss,
                                PKDLoss)
from mmkd.models.losses.fgd_loss import box_scale_masks
from mmkd.registry import MODELS


def _feats(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g, dtype=torch.float64),
            torch.randn(*shape, generator=g, dtype=torch.float64))


def _close(a, b, tol=1e-9):
    a = a.detach() if torch.is_tensor(a) else a
    assert abs(float(a) - float(b)) <= tol * max(1.0, abs(float(b))), \
        (float(a), float(b))


# ----------------------------------------------------------------- FitNets
def test_mse_value_maps_and_vectors():
    for shape in ((2, 3, 4, 5), (3, 7)):
        s, t = _feats(*shape)
        flat_s, flat_t = s.flatten().tolist(), t.flatten().tolist()
        ref = sum((a - b)**2 for a, b in zip(flat_s, flat_t)) / len(flat_s)
        loss = FeatureMSELoss(loss_weight=3.0)
        _close(loss(s, t), 3.0 * ref)


def test_mse_built_from_registry():
    loss = MODELS.build(dict(type='mmkd.FeatureMSELoss', loss_weight=2.0))
    s = torch.ones(1, 2, 1, 1)
    t = torch.zeros(1, 2, 1, 1)
    assert float(loss(s, t)) == 2.0


# --------------------------------------------------------------------- CWD
def _naive_cwd(s, t, tau):
    b, c, h, w = s.shape
    total = 0.0
    for i in range(b):
        for k in range(c):
            xs = [v / tau for v in s[i, k].flatten().tolist()]
            xt = [v / tau for v in t[i, k].flatten().tolist()]
            zs = sum(math.exp(v) for v in xs)
            zt = sum(math.exp(v) for v in xt)
            for vs, vt in zip(xs, xt):
                pt = math.exp(vt) / zt
                total += pt * (math.log(pt) - math.log(math.exp(vs) / zs))
    return total * tau**2 / (c * b)


@pytest.mark.parametrize('tau', [1.0, 4.0])
def test_cwd_value(tau):
    s, t = _feats(2, 3, 4, 5)
    _close(
        CWDLoss(tau=tau, loss_weight=5.0)(s, t), 5.0 * _naive_cwd(s, t, tau))


def test_cwd_hand_case():
    # teacher softmax [3/4, 1/4], student softmax [1/2, 1/2]
    t = torch.tensor([math.log(3.0), 0.0],
                     dtype=torch.float64).view(1, 1, 1, 2)
    s = torch.zeros(1, 1, 1, 2, dtype=torch.float64)
    ref = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    _close(CWDLoss()(s, t), ref)


def test_cwd_zero_on_identical_inputs():
    s, _ = _feats(2, 3, 4, 4)
    assert float(CWDLoss(tau=2.0)(s,
                                  s.clone())) == pytest.approx(0.0, abs=1e-12)


# --------------------------------------------------------------------- PKD
def _naive_standardize(x, per_sample, eps=1e-6):
    b, c, h, w = x.shape
    out = torch.empty_like(x)
    groups = ([[(i, k)] for i in range(b)
               for k in range(c)] if per_sample else [[(i, k)
                                                       for i in range(b)]
                                                      for k in range(c)])
    for group in groups:
        values = [v for i, k in group for v in x[i, k].flatten().tolist()]
        n = len(values)
        mean = sum(values) / n
        std = math.sqrt(sum((v - mean)**2 for v in values) / (n - 1))
        for i, k in group:
            out[i, k] = (x[i, k] - mean) / (std + eps)
    return out


def _naive_pkd(s, t, per_sample):
    ns = _naive_standardize(s, per_sample).flatten().tolist()
    nt = _naive_standardize(t, per_sample).flatten().tolist()
    return sum((a - b)**2 for a, b in zip(ns, nt)) / len(ns) / 2


@pytest.mark.parametrize('stats', ['batch', 'sample'])
def test_pkd_value(stats):
    s, t = _feats(2, 3, 4, 5)
    loss = PKDLoss(loss_weight=6.0, stats=stats)
    _close(loss(s, t), 6.0 * _naive_pkd(s, t, stats == 'sample'), 1e-8)


@pytest.mark.parametrize('stats', ['batch', 'sample'])
def test_pkd_invariant_to_student_channel_affine(stats):
    s, t = _feats(2, 3, 4, 5)
    scale = torch.tensor([0.5, 3.0, 20.0], dtype=torch.float64)
    shift = torch.tensor([-4.0, 1.0, 100.0], dtype=torch.float64)
    moved = s * scale.view(1, 3, 1, 1) + shift.view(1, 3, 1, 1)
    loss = PKDLoss(stats=stats)
    base = float(loss(s, t))
    assert base > 0.1
    assert float(loss(moved, t)) == pytest.approx(base, rel=1e-5)


def test_pkd_is_one_minus_pearson_for_large_maps():
    s, t = _feats(1, 1, 50, 50)
    t = 0.6 * s + 0.8 * t  # correlation near 0.6
    xs, xt = s.flatten(), t.flatten()
    r = float(((xs - xs.mean()) * (xt - xt.mean())).sum() /
              (xs.std(unbiased=False) * xt.std(unbiased=False)) / xs.numel())
    assert float(PKDLoss()(s, t)) == pytest.approx(1 - r, abs=1e-3)


def test_pkd_batch_separability_flags():
    assert PKDLoss().batch_separable is False
    assert PKDLoss(stats='sample').batch_separable is True
    # batch statistics really couple the samples
    s, t = _feats(4, 2, 3, 3)
    s[2:] = s[2:] * 5 + 3
    loss = PKDLoss()
    halves = (loss(s[:2], t[:2]) + loss(s[2:], t[2:])) / 2
    assert abs(float(loss(s, t)) - float(halves)) > 1e-3


def test_pkd_bad_args():
    with pytest.raises(ValueError, match="'batch' or 'sample'"):
        PKDLoss(stats='channel')
    with pytest.raises(ValueError, match='at least 2'):
        PKDLoss(stats='sample')(torch.randn(2, 3, 1, 1),
                                torch.randn(2, 3, 1, 1))


# --------------------------------------------------------------------- MGD
@torch.no_grad()
def _naive_conv3x3(x, weight, bias):
    """x: C x H x W, weight: O x C x 3 x 3, zero padding 1."""
    c, h, w = x.shape
    out = torch.zeros(weight.shape[0], h, w, dtype=x.dtype)
    for o in range(weight.shape[0]):
        for i in range(h):
            for j in range(w):
                acc = float(bias[o])
                for di in range(3):
                    for dj in range(3):
                        y, z = i + di - 1, j + dj - 1
                        if 0 <= y < h and 0 <= z < w:
                            acc += float(
                                (weight[o, :, di, dj] * x[:, y, z]).sum())
                out[o, i, j] = acc
    return out


def test_mgd_value_with_fixed_seed():
    b, c, h, w = 2, 3, 4, 5
    s, t = _feats(b, c, h, w)
    loss = MGDLoss(channels=c, alpha_mgd=2e-5, lambda_mgd=0.65).double()
    conv1, conv2 = loss.generation[0], loss.generation[2]

    torch.manual_seed(123)
    value = loss(s, t)
    torch.manual_seed(123)
    rand = torch.rand(b, 1, h, w)
    total = 0.0
    for i in range(b):
        keep = torch.tensor([[
            0.0 if float(rand[i, 0, y, z]) < 0.65 else 1.0 for z in range(w)
        ] for y in range(h)], dtype=torch.float64)
        hidden = _naive_conv3x3(s[i] * keep, conv1.weight, conv1.bias)
        gen = _naive_conv3x3(hidden.clamp(min=0), conv2.weight, conv2.bias)
        total += float(((gen - t[i])**2).sum())
    assert 0 < int((rand < 0.65).sum()) < b * h * w  # the mask masks
    _close(value, 2e-5 * total / b, 1e-8)


def test_mgd_masked_positions_get_no_gradient():
    s, t = _feats(2, 3, 6, 6)
    s.requires_grad_(True)
    loss = MGDLoss(channels=3, lambda_mgd=0.5).double()
    torch.manual_seed(7)
    loss(s, t).backward()
    torch.manual_seed(7)
    masked = torch.rand(2, 1, 6, 6) < 0.5
    grad = s.grad.abs().sum(dim=1, keepdim=True)
    assert masked.any() and (~masked).any()
    assert float(grad[masked].max()) == 0.0
    assert float(grad[~masked].min()) > 0.0


def test_mgd_bad_args():
    with pytest.raises(ValueError, match='needs channels'):
        MGDLoss()
    with pytest.raises(ValueError, match=r'\[0, 1\)'):
        MGDLoss(channels=4, lambda_mgd=1.0)
    loss = MGDLoss(channels=4)
    with pytest.raises(ValueError, match='channels=4 but got features with '
                       '3 channels'):
        loss(torch.randn(1, 3, 2, 2), torch.randn(1, 3, 2, 2))


# --------------------------------------------------------------------- FGD
def _det_sample(boxes, batch_input_shape, hbox=False):
    from mmdet.structures import DetDataSample
    from mmdet.structures.bbox import HorizontalBoxes
    from mmengine.structures import InstanceData
    sample = DetDataSample(
        metainfo=dict(batch_input_shape=batch_input_shape,
                      img_shape=batch_input_shape))
    instances = InstanceData()
    bboxes = torch.tensor(boxes, dtype=torch.float32).view(-1, 4)
    instances.bboxes = HorizontalBoxes(bboxes) if hbox else bboxes
    instances.labels = torch.zeros(len(bboxes), dtype=torch.long)
    sample.gt_instances = instances
    return sample


def _naive_masks(samples, h, w):
    fg = [[[0.0] * w for _ in range(h)] for _ in samples]
    bg = [[[0.0] * w for _ in range(h)] for _ in samples]
    for n, sample in enumerate(samples):
        in_h, in_w = sample.metainfo['batch_input_shape']
        bboxes = sample.gt_instances.bboxes
        bboxes = getattr(bboxes, 'tensor', bboxes)
        for x1, y1, x2, y2 in bboxes.tolist():
            x1, x2 = x1 * w / in_w, x2 * w / in_w
            y1, y2 = y1 * h / in_h, y2 * h / in_h
            cells = [(i, j) for i in range(h) for j in range(w)
                     if i < y2 and i + 1 > y1 and j < x2 and j + 1 > x1]
            for i, j in cells:
                fg[n][i][j] = max(fg[n][i][j], 1.0 / len(cells))
        outside = [(i, j) for i in range(h) for j in range(w)
                   if fg[n][i][j] == 0]
        for i, j in outside:
            bg[n][i][j] = 1.0 / len(outside)
    return fg, bg


def _naive_attention(x, temp):
    c, h, w = x.shape
    gs = [[
        sum(abs(float(x[k, i, j])) for k in range(c)) / c for j in range(w)
    ] for i in range(h)]
    zs = sum(math.exp(v / temp) for row in gs for v in row)
    a_s = [[h * w * math.exp(v / temp) / zs for v in row] for row in gs]
    gc = [
        sum(abs(float(v)) for v in x[k].flatten()) / (h * w) for k in range(c)
    ]
    zc = sum(math.exp(v / temp) for v in gc)
    a_c = [c * math.exp(v / temp) / zc for v in gc]
    return a_s, a_c


@torch.no_grad()
def _naive_gc(x, block):
    """GcBlock written out with loops, using the block's parameters."""
    c, h, w = x.shape
    wk, bk = block.conv_mask.weight.view(c), float(block.conv_mask.bias)
    logits = [[float((wk * x[:, i, j]).sum()) + bk for j in range(w)]
              for i in range(h)]
    z = sum(math.exp(v) for row in logits for v in row)
    context = torch.zeros(c, dtype=x.dtype)
    for i in range(h):
        for j in range(w):
            context += math.exp(logits[i][j]) / z * x[:, i, j]
    conv1, norm, _, conv2 = block.transform
    hidden = conv1.weight.view(-1, c) @ context + conv1.bias
    mean = hidden.mean()
    var = ((hidden - mean)**2).mean()
    hidden = (hidden - mean) / math.sqrt(float(var) + norm.eps)
    hidden = hidden * norm.weight.view(-1) + norm.bias.view(-1)
    out = conv2.weight.view(c, -1) @ hidden.clamp(min=0) + conv2.bias
    return x + out.view(c, 1, 1)


def _naive_fgd(s, t, samples, loss):
    b, c, h, w = s.shape
    fg, bg = _naive_masks(samples, h, w)
    fea_fg = fea_bg = at = rela = 0.0
    for n in range(b):
        as_t, ac_t = _naive_attention(t[n], loss.temp)
        as_s, ac_s = _naive_attention(s[n], loss.temp)
        for k in range(c):
            for i in range(h):
                for j in range(w):
                    d2 = (float(s[n, k, i, j]) - float(t[n, k, i, j]))**2
                    fea_fg += fg[n][i][j] * as_t[i][j] * ac_t[k] * d2
                    fea_bg += bg[n][i][j] * as_t[i][j] * ac_t[k] * d2
        at += sum(
            abs(as_s[i][j] - as_t[i][j]) for i in range(h) for j in range(w))
        at += sum(abs(ac_s[k] - ac_t[k]) for k in range(c))
        rs = _naive_gc(s[n], loss.global_blocks[0])
        rt = _naive_gc(t[n], loss.global_blocks[-1])
        rela += float(((rs - rt)**2).sum())
    return (loss.alpha_fgd * fea_fg + loss.beta_fgd * fea_bg +
            loss.gamma_fgd * at + loss.lambda_fgd * rela) / b


def _fgd_batch():
    # 40 x 48 input, 5 x 6 feature map (stride 8)
    samples = [
        _det_sample([[3, 5, 20, 17], [9, 9, 15, 14], [40, 30, 48, 40]],
                    (40, 48)),
        _det_sample(torch.zeros(0, 4).tolist(), (40, 48)),
        _det_sample([[0, 0, 48, 16]], (40, 48), hbox=True),
    ]
    s, t = _feats(3, 4, 5, 6)
    return s, t, samples


def _randomize(module):
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=g))


def test_fgd_masks_hand_case():
    # box (8, 8)-(32, 24) at stride 8 covers rows 1-2, columns 1-3
    samples = [_det_sample([[8, 8, 32, 24]], (40, 48))]
    fg, bg = box_scale_masks(samples, (5, 6), torch.device('cpu'))
    expected_fg = torch.zeros(5, 6)
    expected_fg[1:3, 1:4] = 1 / 6
    assert torch.allclose(fg[0], expected_fg)
    assert torch.allclose(bg[0], (expected_fg == 0).float() / 24)


def test_fgd_masks_match_naive():
    _, _, samples = _fgd_batch()
    fg, bg = box_scale_masks(samples, (5, 6), torch.device('cpu'))
    ref_fg, ref_bg = _naive_masks(samples, 5, 6)
    assert torch.allclose(fg, torch.tensor(ref_fg))
    assert torch.allclose(bg, torch.tensor(ref_bg))
    # the overlap keeps the smaller box's larger value; empty sample = bg
    assert float(fg[0, 1, 1]) == pytest.approx(1.0)
    assert float(fg[1].sum()) == 0 and float(bg[1].sum()) == pytest.approx(1)


@pytest.mark.parametrize('separate', [False, True])
def test_fgd_value(separate):
    s, t, samples = _fgd_batch()
    loss = FGDLoss(channels=4, separate_global_blocks=separate,
                   loss_weight=2.0).double()
    assert len(loss.global_blocks) == (2 if separate else 1)
    _randomize(loss)
    # large weights so that every term matters at float64 precision
    loss.alpha_fgd, loss.beta_fgd = 1.0, 0.5
    loss.gamma_fgd, loss.lambda_fgd = 0.3, 0.2
    _close(loss(s, t, samples), 2.0 * _naive_fgd(s, t, samples, loss), 1e-8)


def test_fgd_default_value_and_identity_global_block():
    s, t, samples = _fgd_batch()
    loss = FGDLoss(channels=4).double()
    assert (loss.alpha_fgd, loss.beta_fgd, loss.gamma_fgd, loss.lambda_fgd,
            loss.temp) == (1e-3, 5e-4, 5e-4, 5e-6, 0.5)
    x = s[:1]
    assert torch.equal(loss.global_blocks[0](x), x)  # zero-init last conv
    _close(loss(s, t, samples), _naive_fgd(s, t, samples, loss), 1e-8)


def test_fgd_needs_boxes():
    s, t, samples = _fgd_batch()
    loss = FGDLoss(channels=4).double()
    with pytest.raises(ValueError, match='ground-truth boxes'):
        loss(s, t)
    with pytest.raises(ValueError, match='ground-truth boxes'):
        loss(s, t, samples[:2])
    from mmdet.structures import DetDataSample
    with pytest.raises(ValueError, match='gt_instances.bboxes'):
        loss(s, t, [
            DetDataSample(metainfo=dict(batch_input_shape=(8, 8)))
            for _ in range(3)
        ])
    with pytest.raises(ValueError, match='channels=4 but got'):
        loss(s[:, :3], t[:, :3], samples)
    with pytest.raises(ValueError, match='needs channels'):
        FGDLoss()


# ------------------------------------------------------- common properties
def _mgd(**kw):
    return MGDLoss(channels=3, **kw).double()


def _fgd():
    loss = FGDLoss(channels=3).double()
    _randomize(loss)
    return loss


_ALL = [('mse', FeatureMSELoss), ('cwd', lambda: CWDLoss(tau=2.0)),
        ('pkd', PKDLoss), ('pkd_sample', lambda: PKDLoss(stats='sample')),
        ('mgd', _mgd), ('fgd', _fgd)]


def _call(name, loss, s, t):
    if name == 'fgd':
        samples = [
            _det_sample([[0, 0, 24, 16]], (32, 32)) for _ in range(s.shape[0])
        ]
        return loss(s, t, samples)
    return loss(s, t)


@pytest.mark.parametrize('name,make', _ALL, ids=[n for n, _ in _ALL])
def test_grad_reaches_student_never_teacher(name, make):
    s, t = _feats(2, 3, 4, 4)
    s.requires_grad_(True)
    t.requires_grad_(True)
    torch.manual_seed(0)
    loss = make()
    _call(name, loss, s, t).backward()
    assert s.grad is not None and float(s.grad.abs().sum()) > 0
    assert t.grad is None


_SEPARABLE = [(n, m) for n, m in _ALL if n != 'pkd'
              ] + [('mgd_nomask', lambda: _mgd(lambda_mgd=0.0))]


@pytest.mark.parametrize('name,make', _SEPARABLE,
                         ids=[n for n, _ in _SEPARABLE])
def test_batch_separable(name, make):
    loss = make()
    assert loss.batch_separable is True
    if name == 'mgd':
        return  # random mask: checked without mask below
    s, t = _feats(4, 3, 4, 4)
    whole = _call(name, loss, s, t)
    halves = (_call(name, loss, s[:2], t[:2]) +
              _call(name, loss, s[2:], t[2:])) / 2
    _close(whole, halves, 1e-9)


def test_shape_mismatch_mentions_connector():
    s, t = torch.randn(2, 3, 4, 4), torch.randn(2, 5, 4, 4)
    for loss in (FeatureMSELoss(), CWDLoss(), PKDLoss()):
        with pytest.raises(ValueError, match='ConvConnector'):
            loss(s, t)
    with pytest.raises(ValueError, match='ResizeConnector'):
        CWDLoss()(torch.randn(2, 3, 4, 4), torch.randn(2, 3, 8, 8))


def test_tuple_input_and_ndim_errors():
    s, t = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    with pytest.raises(TypeError, match='tuple'):
        CWDLoss()((s, s), t)
    with pytest.raises(ValueError, match='4-D'):
        CWDLoss()(torch.randn(2, 3), torch.randn(2, 3))
    with pytest.raises(ValueError, match='tau'):
        CWDLoss(tau=0)
