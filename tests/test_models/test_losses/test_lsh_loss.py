# Copyright (c) mmkd contributors. All rights reserved.
"""LSHLoss (LSHFM feature mimicking) against hand-written float64
references, and its teacher-logits plumbing in SingleTeacherDistiller."""
import math

import pytest
import torch
import torch.nn as nn

from mmkd.models.losses import LSHLoss
from mmkd.registry import MODELS
from mmkd.structures import ClsDataSample


def _feats(*shape, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g, dtype=dtype),
            torch.randn(*shape, generator=g, dtype=dtype))


def _samples(labels):
    return [ClsDataSample().set_gt_label(int(y)) for y in labels]


def _close(a, b, tol=1e-9):
    assert abs(float(a) - float(b)) <= tol * max(1.0, abs(float(b))), \
        (float(a), float(b))


def _with_random_bias(loss, seed=1):
    g = torch.Generator().manual_seed(seed)
    loss.proj_bias.copy_(torch.randn(loss.num_bits, generator=g))
    return loss


def _ref_l2(s, t):
    """Per sample: mean of (s - t)^2 over its elements; then mean."""
    per = [sum((a - b)**2 for a, b in zip(si.flatten().tolist(),
                                          ti.flatten().tolist())) / si.numel()
           for si, ti in zip(s, t)]
    return sum(per) / len(per)


def _ref_bce_vector(sv, tv, weight, bias):
    """Mean over bits of -[h log sig(z) + (1-h) log(1-sig(z))], z = W s + b,
    h = 1[W t + b > 0], in Python float64."""
    total = 0.0
    for k in range(len(weight)):
        zs = sum(w * x for w, x in zip(weight[k], sv)) + bias[k]
        zt = sum(w * x for w, x in zip(weight[k], tv)) + bias[k]
        h = 1.0 if zt > 0 else 0.0
        p = 1.0 / (1.0 + math.exp(-zs))
        total += -(h * math.log(p) + (1.0 - h) * math.log(1.0 - p))
    return total / len(weight)


def _ref_lsh(s, t, loss):
    """Vectors (B x D) or maps (every C-vector at each position)."""
    weight = loss.proj_weight.double().tolist()
    bias = loss.proj_bias.double().tolist()
    if s.dim() == 4:
        s = s.permute(0, 2, 3, 1).reshape(-1, s.shape[1])
        t = t.permute(0, 2, 3, 1).reshape(-1, t.shape[1])
    vals = [_ref_bce_vector(sv.tolist(), tv.tolist(), weight, bias)
            for sv, tv in zip(s, t)]
    return sum(vals) / len(vals)


# ------------------------------------------------------------------ values
def test_l2_mode_is_mse():
    for shape in ((5, 6), (2, 3, 4, 5)):
        s, t = _feats(*shape)
        loss = LSHLoss(in_channels=shape[1], mode='l2', loss_weight=2.0)
        _close(loss(s, t), 2.0 * _ref_l2(s, t))
        _close(loss(s, t), 2.0 * torch.nn.functional.mse_loss(s, t))


def test_lsh_mode_matches_float64_formula_vectors_and_maps():
    for shape in ((4, 6), (2, 6, 3, 2)):
        s, t = _feats(*shape, seed=3)
        loss = _with_random_bias(
            LSHLoss(in_channels=6, mode='lsh', num_bits=10, std=0.7,
                    bias='zero', loss_weight=1.5))
        _close(loss(s, t), 1.5 * _ref_lsh(s, t, loss), tol=1e-7)


def test_lshl2_is_sum_and_logs_parts():
    s, t = _feats(3, 5, seed=4)
    loss = _with_random_bias(
        LSHLoss(in_channels=5, num_bits=7, std=1.0, bias='zero'))
    ref_l2, ref_lsh = _ref_l2(s, t), _ref_lsh(s, t, loss)
    _close(loss(s, t), ref_l2 + ref_lsh, tol=1e-7)
    logs = loss.pop_log_vars()
    _close(logs['l2'], ref_l2, tol=1e-7)
    _close(logs['lsh'], ref_lsh, tol=1e-7)


def test_teacher_hash_and_loss_zero_gap():
    """A student equal to the teacher with huge features has ~0 BCE (its
    logits agree with the bits); the opposite feature is penalised."""
    t = torch.randn(4, 8, dtype=torch.float64) * 100
    loss = LSHLoss(in_channels=8, mode='lsh', num_bits=16, std=1.0,
                   bias='zero')
    assert float(loss(t.clone(), t)) < 1e-2
    assert float(loss(-t, t)) > 10.0


def test_maps_equal_vector_form():
    s, t = _feats(2, 4, 3, 5, seed=5)
    sv = s.permute(0, 2, 3, 1).reshape(-1, 4)
    tv = t.permute(0, 2, 3, 1).reshape(-1, 4)
    for mode in ('l2', 'lsh', 'lshl2'):
        kw = {} if mode == 'l2' else dict(num_bits=9, std=0.5, bias='zero')
        loss = LSHLoss(in_channels=4, mode=mode, **kw)
        _close(loss(s, t), loss(sv, tv), tol=1e-12)


# --------------------------------------------------------- numerical safety
@pytest.mark.parametrize('mode', ['l2', 'lsh', 'lshl2'])
def test_extreme_inputs_finite_with_finite_gradients(mode):
    kw = {} if mode == 'l2' else dict(num_bits=32, std=0.5, bias='zero')
    loss = LSHLoss(in_channels=16, mode=mode, **kw)
    g = torch.Generator().manual_seed(0)
    signs = torch.randint(0, 2, (4, 16), generator=g).float() * 2 - 1
    big = 1e4 * signs
    zero = torch.zeros(4, 16)
    cases = [(big, -big), (-big, big), (big, big), (zero, zero),
             (zero, big), (big, zero),
             (1e4 * torch.ones(2, 16, 3, 3), -1e4 * torch.ones(2, 16, 3, 3))]
    for s, t in cases:
        s = s.clone().requires_grad_(True)
        value = loss(s, t)
        value.backward()
        assert torch.isfinite(value), (mode, value)
        assert torch.isfinite(s.grad).all(), mode
    # a large opposite feature is penalised, not clipped to 0
    if mode != 'l2':
        assert float(LSHLoss(in_channels=16, mode='lsh', **kw)(big, -big)) \
            > 100


def test_gradient_reaches_student_not_teacher_nor_projection():
    s, t = _feats(3, 6, seed=6, dtype=torch.float32)
    s.requires_grad_(True)
    t.requires_grad_(True)
    loss = LSHLoss(in_channels=6, num_bits=12, std=1.0, bias='zero')
    loss(s, t).backward()
    assert s.grad is not None and s.grad.abs().sum() > 0
    assert t.grad is None
    assert list(loss.parameters()) == []
    assert not loss.proj_weight.requires_grad


# ----------------------------------------------------------------- buffers
def test_projection_is_seeded_and_scaled():
    a = LSHLoss(in_channels=40, num_bits=500, std=0.06, bias='zero')
    b = LSHLoss(in_channels=40, num_bits=500, std=0.06, bias='zero')
    c = LSHLoss(in_channels=40, num_bits=500, std=0.06, bias='zero', seed=1)
    assert torch.equal(a.proj_weight, b.proj_weight)
    assert not torch.equal(a.proj_weight, c.proj_weight)
    assert a.proj_weight.std().item() == pytest.approx(0.06, rel=0.02)
    assert a.proj_weight.mean().abs().item() < 0.002
    a.reset_projection(0.12)
    assert torch.allclose(a.proj_weight, 2 * b.proj_weight)


def test_state_dict_round_trip(tmp_path):
    loss = LSHLoss(in_channels=6, num_bits=10, std_from='fc.weight')
    teacher = nn.Sequential()
    teacher.fc = nn.Linear(6, 3)
    loss.reset_projection(loss.resolve_std(teacher))
    loss.set_median_bias(torch.randn(20, 10))
    assert set(loss.state_dict()) == {'proj_weight', 'proj_bias',
                                      'initialized'}
    path = tmp_path / 'lsh.pth'
    torch.save(loss.state_dict(), path)
    state = torch.load(path, weights_only=True)
    fresh = LSHLoss(in_channels=6, num_bits=10, std_from='fc.weight',
                    seed=7)
    assert not bool(fresh.initialized)
    fresh.load_state_dict(state)
    assert torch.equal(fresh.proj_weight, loss.proj_weight)
    assert torch.equal(fresh.proj_bias, loss.proj_bias)
    assert bool(fresh.initialized)
    s, t = _feats(3, 6, seed=8)
    assert float(fresh(s, t)) == float(loss(s, t))


def test_resolve_std_and_unknown_parameter():
    teacher = nn.Sequential()
    teacher.fc = nn.Linear(5, 4)
    loss = LSHLoss(in_channels=5, std_from='fc.weight')
    w = teacher.fc.weight.detach().double().flatten().tolist()
    mean = sum(w) / len(w)
    ref = math.sqrt(sum((x - mean)**2 for x in w) / (len(w) - 1))
    assert loss.resolve_std(teacher) == pytest.approx(ref, rel=1e-9)
    bad = LSHLoss(in_channels=5, std_from='fc.weights')
    with pytest.raises(ValueError, match=r"fc\.weight'"):
        bad.resolve_std(teacher)


def test_median_bias_balances_bits():
    loss = LSHLoss(in_channels=4, num_bits=6, std=1.0)
    feats = torch.randn(50, 4) * 3 + 2  # off-centre: zero bias unbalanced
    proj = loss.projections(feats)
    loss.set_median_bias(proj)
    ones = (proj + loss.proj_bias > 0).float().mean(0)
    assert torch.equal(ones, torch.full((6, ), 0.5))
    assert bool(loss.initialized)


# --------------------------------------------------- teacher-correct weights
def _teacher_logits(correct, labels, num_classes=3):
    logits = torch.zeros(len(labels), num_classes)
    for i, (ok, y) in enumerate(zip(correct, labels)):
        logits[i, y if ok else (y + 1) % num_classes] = 5.0
    return logits


def test_teacher_correct_only_ignores_wrong_samples():
    labels = [0, 2, 1, 1]
    correct = [True, False, True, False]
    s, t = _feats(4, 6, seed=9)
    loss = LSHLoss(in_channels=6, num_bits=8, std=0.5, bias='zero',
                   teacher_correct_only=True)
    loss.teacher_logits = _teacher_logits(correct, labels)
    samples = _samples(labels)
    value = loss(s, t, samples)
    assert float(loss.pop_log_vars()['teacher_acc']) == 0.5
    plain = LSHLoss(in_channels=6, num_bits=8, std=0.5, bias='zero')
    keep = torch.tensor([0, 2])
    _close(value, plain(s[keep], t[keep]), tol=1e-12)
    changed = s.clone()
    changed[1] += 10.0
    changed[3] -= 7.0
    assert float(loss(changed, t, samples)) == float(value)
    changed[0] += 1.0
    assert float(loss(changed, t, samples)) != float(value)


def test_teacher_correct_only_maps_and_no_correct_sample():
    labels = [1, 0]
    s, t = _feats(2, 3, 2, 2, seed=10)
    loss = LSHLoss(in_channels=3, num_bits=5, std=1.0, bias='zero',
                   teacher_correct_only=True)
    loss.teacher_logits = _teacher_logits([False, True], labels)
    plain = LSHLoss(in_channels=3, num_bits=5, std=1.0, bias='zero')
    _close(loss(s, t, _samples(labels)), plain(s[1:], t[1:]), tol=1e-12)
    # the teacher is never right: 0 (not NaN), with a finite gradient
    loss.teacher_logits = _teacher_logits([False, False], labels)
    s = s.clone().requires_grad_(True)
    value = loss(s, t, _samples(labels))
    value.backward()
    assert value.item() == 0.0
    assert torch.isfinite(s.grad).all()


def test_teacher_correct_only_input_errors():
    loss = LSHLoss(in_channels=3, mode='l2', teacher_correct_only=True)
    s, t = _feats(2, 3)
    with pytest.raises(RuntimeError, match="teacher_logits='head.fc'"):
        loss(s, t, _samples([0, 1]))
    loss.teacher_logits = torch.zeros(3, 4)
    with pytest.raises(ValueError, match='2 x C'):
        loss(s, t, _samples([0, 1]))
    loss.teacher_logits = torch.zeros(2, 4)
    with pytest.raises(ValueError, match='gt_label'):
        loss(s, t)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize('kwargs, match', [
    (dict(num_bits=0, std=1.0), 'num_bits must be an int >= 1'),
    (dict(num_bits=-3, std=1.0), 'num_bits must be an int >= 1'),
    (dict(num_bits=2.5, std=1.0), 'num_bits must be an int >= 1'),
    (dict(mode='cosine', std=1.0), "unknown mode 'cosine'"),
    (dict(bias='mean', std=1.0), "unknown bias 'mean'"),
    (dict(std=1.0, std_from='head.fc.weight'), 'given exactly once'),
    (dict(), 'given exactly once'),
    (dict(mode='lsh'), 'given exactly once'),
    (dict(std=-0.1), 'std must be a number > 0'),
    (dict(mode='l2', std=0.1), "mode='l2' has no hash projection"),
    (dict(mode='l2', num_bits=8), "mode='l2' has no hash projection"),
    (dict(in_channels=0, std=1.0), 'in_channels must be an int >= 1'),
])
def test_build_errors(kwargs, match):
    kwargs = dict(kwargs)
    kwargs.setdefault('in_channels', 4)
    with pytest.raises(ValueError, match=match):
        MODELS.build(dict(type='mmkd.LSHLoss', **kwargs))


def test_build_type_errors_and_default_bits():
    with pytest.raises(TypeError, match='teacher_correct_only'):
        LSHLoss(in_channels=4, std=1.0, teacher_correct_only='yes')
    with pytest.raises(TypeError, match='std_from'):
        LSHLoss(in_channels=4, std_from=3)
    assert LSHLoss(in_channels=4, std=1.0).num_bits == 128  # 32 * D
    assert LSHLoss(in_channels=4, std=1.0).batch_separable
    assert not LSHLoss(in_channels=4, mode='l2',
                       teacher_correct_only=True).batch_separable


def test_call_errors_name_the_fix():
    loss = LSHLoss(in_channels=6, num_bits=8, std=1.0, bias='zero')
    with pytest.raises(ValueError, match=r"mmkd\.LinearConnector', "
                       r'in_features=4, out_features=6'):
        loss(torch.randn(2, 4), torch.randn(2, 6))
    with pytest.raises(ValueError, match=r"mmkd\.ConvConnector', "
                       r'in_channels=4, out_channels=6'):
        loss(torch.randn(2, 4, 3, 3), torch.randn(2, 6, 3, 3))
    with pytest.raises(ValueError, match='in_channels=6 but the features '
                       'have 5'):
        loss(torch.randn(2, 5), torch.randn(2, 5))
    with pytest.raises(ValueError, match='expects 4-D or 2-D'):
        loss(torch.randn(2, 6, 3), torch.randn(2, 6, 3))


def test_uninitialised_loss_names_the_hook():
    for kw in (dict(std=1.0), dict(std_from='fc.weight', bias='zero')):
        loss = LSHLoss(in_channels=3, num_bits=4, **kw)
        with pytest.raises(RuntimeError, match='mmkd.LSHMedianBiasHook'):
            loss(*_feats(2, 3))


# ------------------------------------------- distiller: teacher logits entry
def _classifier(channels, hidden):
    return dict(
        type='mmkd.ImageClassifier',
        backbone=dict(type='mmkd.MnistConvNet', channels=channels,
                      hidden=hidden),
        head=dict(type='mmkd.LinearClsHead', num_classes=10,
                  in_channels=hidden))


def _distiller(**entry):
    cfg = dict(student='head.pre_logits', teacher='head.pre_logits',
               name='feat',
               connector=dict(type='mmkd.LinearConnector', in_features=8,
                              out_features=16))
    cfg.update(entry)
    torch.manual_seed(0)
    with pytest.warns(UserWarning, match='no checkpoint'):
        return MODELS.build(
            dict(type='mmkd.SingleTeacherDistiller',
                 student=_classifier((2, 4), 8),
                 teacher=dict(model=_classifier((4, 8), 16)),
                 distill=[cfg]))


def test_distiller_passes_teacher_logits():
    model = _distiller(
        loss=dict(type='mmkd.LSHLoss', in_channels=16, num_bits=20,
                  std=0.3, bias='zero', teacher_correct_only=True,
                  loss_weight=6.0),
        teacher_logits='head.fc')
    g = torch.Generator().manual_seed(1)
    x = torch.randn(8, 1, 28, 28, generator=g)
    with torch.no_grad():
        t_logits = model.teacher(x)
    # labels: the teacher is right on samples 0-3 only
    labels = t_logits.argmax(1).clone()
    labels[4:] = (labels[4:] + 1) % 10
    samples = _samples(labels)
    losses = model.loss(x, samples)
    entry = model.distill_entries[0]
    loss = entry.losses[0]
    assert loss.teacher_logits is None  # not kept after the call
    with torch.no_grad():
        fs = entry.connectors[0](model.student.extract_feat(x))
        ft = model.teacher.extract_feat(x)
    plain = LSHLoss(in_channels=16, num_bits=20, std=0.3, bias='zero',
                    loss_weight=6.0)
    _close(losses['distill.feat.loss'], plain(fs[:4], ft[:4]), tol=1e-5)
    assert float(losses['distill.feat.teacher_acc']) == 0.5
    assert set(model.teacher_recorder.paths) == {'head.pre_logits',
                                                 'head.fc'}


def test_distill_entry_teacher_logits_errors():
    with pytest.raises(ValueError, match="add teacher_logits="):
        _distiller(loss=dict(type='mmkd.LSHLoss', in_channels=16,
                             mode='l2', teacher_correct_only=True))
    with pytest.raises(ValueError, match='FeatureMSELoss does not use it'):
        _distiller(loss=dict(type='mmkd.FeatureMSELoss'),
                   teacher_logits='head.fc')
    model = _distiller(
        loss=dict(type='mmkd.LSHLoss', in_channels=16, mode='l2',
                  teacher_correct_only=True),
        teacher_logits='backbone.layer1')
    x = torch.randn(2, 1, 28, 28)
    with pytest.raises(ValueError, match='must output one B x C tensor'):
        model.loss(x, _samples([0, 1]))
