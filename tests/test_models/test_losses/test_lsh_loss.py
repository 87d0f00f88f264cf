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
    per = [
        sum((a - b)**2 for a, b in zip(si.flatten().tolist(),
                                       ti.flatten().tolist())) / si.numel()
        for si, ti in zip(s, t)
    ]
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
    vals = [
        _ref_bce_vector(sv.tolist(), tv.tolist(), weight, bias)
        for sv, tv in zip(s, t)
    ]
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
    cases = [(big, -big), (-big, big), (big, big), (zero, zero), (zero, big),
             (big, zero),
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
    assert set(
        loss.state_dict()) == {'proj_weight', 'proj_bias', 'initialized'}
    path = tmp_path / 'lsh.pth'
    torch.save(loss.state_dict(), path)
    state = torch.load(path, weights_only=True)
    fresh = LSHLoss(in_channels=6, num_bits=10, std_from='fc.weight', seed=7)
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
    assert loss.needs_teacher_logits and loss.needs_labels
    given = dict(
        teacher_logits=_teacher_logits(correct, labels),
        labels=torch.tensor(labels))
    value = loss(s, t, **given)
    assert float(loss.pop_log_vars()['teacher_acc']) == 0.5
    plain = LSHLoss(in_channels=6, num_bits=8, std=0.5, bias='zero')
    assert not (plain.needs_teacher_logits or plain.needs_labels)
    keep = torch.tensor([0, 2])
    _close(value, plain(s[keep], t[keep]), tol=1e-12)
    changed = s.clone()
    changed[1] += 10.0
    changed[3] -= 7.0
    assert float(loss(changed, t, **given)) == float(value)
    changed[0] += 1.0
    assert float(loss(changed, t, **given)) != float(value)


def test_teacher_correct_only_maps_and_no_correct_sample():
    labels = [1, 0]
    s, t = _feats(2, 3, 2, 2, seed=10)
    loss = LSHLoss(in_channels=3, num_bits=5, std=1.0, bias='zero',
                   teacher_correct_only=True)
    plain = LSHLoss(in_channels=3, num_bits=5, std=1.0, bias='zero')
    _close(
        loss(s, t, teacher_logits=_teacher_logits([False, True], labels),
             labels=torch.tensor(labels)), plain(s[1:], t[1:]), tol=1e-12)
    # the teacher is never right: 0 (not NaN), with a finite gradient
    s = s.clone().requires_grad_(True)
    value = loss(s, t, teacher_logits=_teacher_logits([False, False], labels),
                 labels=torch.tensor(labels))
    value.backward()
    assert value.item() == 0.0
    assert torch.isfinite(s.grad).all()


def test_teacher_correct_only_input_errors():
    loss = LSHLoss(in_channels=3, mode='l2', teacher_correct_only=True)
    s, t = _feats(2, 3)
    labels = torch.tensor([0, 1])
    with pytest.raises(RuntimeError, match="teacher_logits='head.fc'"):
        loss(s, t, labels=labels)
    with pytest.raises(ValueError, match='2 x C'):
        loss(s, t, teacher_logits=torch.zeros(3, 4), labels=labels)
    with pytest.raises(ValueError, match='needs the class labels'):
        loss(s, t, _samples([0, 1]), teacher_logits=torch.zeros(2, 4))
    with pytest.raises(ValueError, match='3 labels for a batch of 2'):
        loss(s, t, teacher_logits=torch.zeros(2, 4),
             labels=torch.tensor([0, 1, 2]))


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
    (dict(std=1.0, unfold=2), 'unfold must be an odd int >= 1'),
    (dict(std=1.0, unfold=0), 'unfold must be an odd int >= 1'),
    (dict(std=1.0, unfold=3.0), 'unfold must be an odd int >= 1'),
    (dict(std=1.0, level_reduction='avg'), "unknown level_reduction 'avg'"),
    (dict(std=1.0, level_reduction='sum',
          anchor_mask_head='bbox_head'), "needs level_reduction='mean'"),
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
    with pytest.raises(
            ValueError, match=r"mmkd\.LinearConnector', "
            r'in_features=4, out_features=6'):
        loss(torch.randn(2, 4), torch.randn(2, 6))
    with pytest.raises(
            ValueError, match=r"mmkd\.ConvConnector', "
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
                      hidden=hidden), head=dict(type='mmkd.LinearClsHead',
                                                num_classes=10,
                                                in_channels=hidden))


def _distiller(*more_entries, **entry):
    cfg = dict(
        student='head.pre_logits', teacher='head.pre_logits', name='feat',
        connector=dict(type='mmkd.LinearConnector', in_features=8,
                       out_features=16))
    cfg.update(entry)
    torch.manual_seed(0)
    with pytest.warns(UserWarning, match='no checkpoint'):
        return MODELS.build(
            dict(type='mmkd.SingleTeacherDistiller', student=_classifier(
                (2, 4), 8), teacher=dict(model=_classifier((4, 8), 16)),
                 distill=[cfg, *more_entries]))


def test_distiller_passes_teacher_logits():
    model = _distiller(
        loss=dict(type='mmkd.LSHLoss', in_channels=16, num_bits=20, std=0.3,
                  bias='zero', teacher_correct_only=True, loss_weight=6.0),
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
    assert 'teacher_logits' not in vars(loss)  # passed, never set on it
    with torch.no_grad():
        fs = entry.connectors[0](model.student.extract_feat(x))
        ft = model.teacher.extract_feat(x)
    plain = LSHLoss(in_channels=16, num_bits=20, std=0.3, bias='zero',
                    loss_weight=6.0)
    _close(losses['distill.feat.loss'], plain(fs[:4], ft[:4]), tol=1e-5)
    assert float(losses['distill.feat.teacher_acc']) == 0.5
    assert set(model.teacher_recorder.paths) == {'head.pre_logits', 'head.fc'}


def test_distill_entry_teacher_logits_errors():
    with pytest.raises(ValueError, match="add teacher_logits="):
        _distiller(
            loss=dict(type='mmkd.LSHLoss', in_channels=16, mode='l2',
                      teacher_correct_only=True))
    with pytest.raises(ValueError, match='FeatureMSELoss does not use it'):
        _distiller(
            loss=dict(type='mmkd.FeatureMSELoss'), teacher_logits='head.fc')
    model = _distiller(
        loss=dict(type='mmkd.LSHLoss', in_channels=16, mode='l2',
                  teacher_correct_only=True), teacher_logits='backbone.layer1')
    x = torch.randn(2, 1, 28, 28)
    with pytest.raises(ValueError, match='must output one B x C tensor'):
        model.loss(x, _samples([0, 1]))


# ------------------------------------ dense maps: unfold, levels, anchor mask
# A two-level toy anchor head (strides 8 and 16, three anchors a position,
# RetinaNet's MaxIoUAssigner thresholds, ignore regions on) on 40 x 48
# images: 5 x 6 and 3 x 3 positions.
IMG_SHAPE = (40, 48)
STRIDES = (8, 16)
RATIOS = (0.5, 1.0, 2.0)
ANCHOR_SCALE = 2
POS_IOU, NEG_IOU, IGNORE_IOF = 0.5, 0.4, 0.5
LEVEL_SIZES = ((5, 6), (3, 3))
# sample 0: positions with all anchors ignored; 1: all anchors inside an
# ignored region (no position left); 2: no gt box (all anchors negative)
GT_BOXES = ([[35.4, 21.2, 48.0, 40.0], [1.7, 3.8, 22.5,
                                        20.0]], [[10.0, 12.0, 30.0, 31.0]], [])
IGNORED_BOXES = ([], [[-100.0, -100.0, 200.0, 200.0]], [])


def _anchor_student(channels=2):
    """A module holding an mmdet RetinaHead as ``bbox_head`` (built in the
    mmdet scope: its anchor generator and coders are mmdet's)."""
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmdet'):
        head = _build_retina_head(channels)
    student = nn.Module()
    student.bbox_head = head
    return student


def _build_retina_head(channels):
    return MODELS.build(
        dict(
            type='mmdet.RetinaHead', num_classes=2, in_channels=channels,
            stacked_convs=1, feat_channels=channels,
            anchor_generator=dict(type='AnchorGenerator',
                                  octave_base_scale=ANCHOR_SCALE,
                                  scales_per_octave=1, ratios=list(RATIOS),
                                  strides=list(STRIDES)),
            train_cfg=dict(
                assigner=dict(type='MaxIoUAssigner', pos_iou_thr=POS_IOU,
                              neg_iou_thr=NEG_IOU, min_pos_iou=0,
                              ignore_iof_thr=IGNORE_IOF),
                sampler=dict(type='PseudoSampler'), allowed_border=-1,
                pos_weight=-1, debug=False)))


def _det_samples():
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData

    def instances(boxes):
        return InstanceData(
            bboxes=torch.tensor(boxes, dtype=torch.float32).view(-1, 4),
            labels=torch.zeros(len(boxes), dtype=torch.long))

    samples = []
    for gts, ignored in zip(GT_BOXES, IGNORED_BOXES):
        sample = DetDataSample(
            metainfo=dict(img_shape=IMG_SHAPE, pad_shape=IMG_SHAPE,
                          batch_input_shape=IMG_SHAPE))
        sample.gt_instances = instances(gts)
        if ignored:
            sample.ignored_instances = instances(ignored)
        samples.append(sample)
    return samples


def _level_feats(batch, channels, seed):
    g = torch.Generator().manual_seed(seed)
    return ([
        torch.randn(batch, channels, h, w, generator=g, dtype=torch.float64)
        for h, w in LEVEL_SIZES
    ], [
        torch.randn(batch, channels, h, w, generator=g, dtype=torch.float64)
        for h, w in LEVEL_SIZES
    ])


def _area(box):
    return (box[2] - box[0]) * (box[3] - box[1])


def _inter(a, b):
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(w, 0.0) * max(h, 0.0)


def _ref_position_anchors(stride, height, width):
    """The anchors of each position (row-major): centred on (x, y) *
    stride, size stride * scale, aspect ratio h / w in RATIOS."""
    positions = []
    for y in range(height):
        for x in range(width):
            boxes = []
            for ratio in RATIOS:
                aw = stride * ANCHOR_SCALE / math.sqrt(ratio)
                ah = stride * ANCHOR_SCALE * math.sqrt(ratio)
                cx, cy = x * stride, y * stride
                boxes.append(
                    (cx - aw / 2, cy - ah / 2, cx + aw / 2, cy + ah / 2))
            positions.append(boxes)
    return positions


def _ref_keep(gts, ignored):
    """Per position (levels concatenated): does any of its anchors escape
    being ignored? The max-IoU rule by hand: an anchor is ignored when it
    lies inside an ignored box (IoF > IGNORE_IOF) or its best IoU is in
    [NEG_IOU, POS_IOU), unless it is a gt's best anchor (min_pos_iou 0)."""
    positions = [
        p for stride, (h, w) in zip(STRIDES, LEVEL_SIZES)
        for p in _ref_position_anchors(stride, h, w)
    ]
    anchors = [a for p in positions for a in p]
    ious = []
    for a in anchors:
        row = [
            _inter(a, g) / (_area(a) + _area(g) - _inter(a, g)) for g in gts
        ]
        if any(_inter(a, ig) / _area(a) > IGNORE_IOF for ig in ignored):
            row = [-1.0] * len(gts)
        ious.append(row)
    ignored_anchor = []
    for row in ious:
        best = max(row) if row else 0.0
        # keep the data away from the thresholds (float32 in mmdet)
        assert all(abs(best - thr) > 1e-4 for thr in (NEG_IOU, POS_IOU))
        ignored_anchor.append(not (0 <= best < NEG_IOU or best >= POS_IOU))
    for j in range(len(gts)):
        best = max(row[j] for row in ious)
        if best >= 0:
            for i, row in enumerate(ious):
                if row[j] == best:
                    ignored_anchor[i] = False
    per = len(RATIOS)
    return [
        not all(ignored_anchor[i * per:(i + 1) * per])
        for i in range(len(positions))
    ]


def _ref_unfold(feat, b, y, x, k):
    """The k x k neighbourhood of position (y, x) of sample b, zero outside
    the map, channel-major then row by row."""
    _, channels, height, width = feat.shape
    r = k // 2
    return [
        float(feat[b, c, y + dy, x + dx])
        if 0 <= y + dy < height and 0 <= x + dx < width else 0.0
        for c in range(channels) for dy in range(-r, r + 1)
        for dx in range(-r, r + 1)
    ]


def _ref_dense(s_levels, t_levels, loss, k, keep=None):
    """LSHL2 (mode 'lshl2') / LSH by hand: per sample the mean over its
    kept positions of all levels of L2 + BCE on k x k vectors; then the
    mean over the samples with a kept position (0 if none)."""
    if loss.mode != 'l2':
        weight = loss.proj_weight.double().tolist()
        bias = loss.proj_bias.double().tolist()
    per_sample = []
    for b in range(s_levels[0].shape[0]):
        values, i = [], 0
        for s, t in zip(s_levels, t_levels):
            for y in range(s.shape[2]):
                for x in range(s.shape[3]):
                    if keep is None or keep[b][i]:
                        sv, tv = (_ref_unfold(s, b, y, x,
                                              k), _ref_unfold(t, b, y, x, k))
                        value = 0.0
                        if loss.mode != 'lsh':
                            value += sum(
                                (p - q)**2 for p, q in zip(sv, tv)) / len(sv)
                        if loss.mode != 'l2':
                            value += _ref_bce_vector(sv, tv, weight, bias)
                        values.append(value)
                    i += 1
        if values:
            per_sample.append(sum(values) / len(values))
    return sum(per_sample) / len(per_sample) if per_sample else 0.0


def test_anchor_mask_matches_max_iou_rule():
    loss = LSHLoss(in_channels=2, num_bits=4, std=1.0, bias='zero',
                   anchor_mask_head='bbox_head')
    loss.bind_models(_anchor_student(), None)
    s, t = _level_feats(3, 2, seed=11)
    keep = loss._position_mask(t, _det_samples())
    ref = [_ref_keep(g, i) for g, i in zip(GT_BOXES, IGNORED_BOXES)]
    assert keep.tolist() == ref
    # the cases the data is made for
    assert 0 < ref[0].count(False) < len(ref[0])
    assert not any(ref[1]) and all(ref[2])


@pytest.mark.parametrize('mode', ['lshl2', 'lsh'])
def test_joint_levels_unfold_mask_match_float64_reference(mode):
    """One mean over the kept 3 x 3 x C vectors of both levels per sample,
    then over the samples with any (the one fully ignored counts for
    nothing), against the computation by hand."""
    loss = _with_random_bias(
        LSHLoss(in_channels=2, mode=mode, num_bits=6, std=0.7, bias='zero',
                unfold=3, anchor_mask_head='bbox_head', loss_weight=1.5))
    assert loss.joint_levels and loss.proj_weight.shape == (6, 18)
    loss.bind_models(_anchor_student(), None)
    s, t = _level_feats(3, 2, seed=12)
    samples = _det_samples()
    keep = [_ref_keep(g, i) for g, i in zip(GT_BOXES, IGNORED_BOXES)]
    value = loss.forward_levels(s, t, samples)
    ref = _ref_dense(s, t, loss, 3, keep)
    _close(value, 1.5 * ref, tol=1e-7)
    # the mask changes the value
    assert abs(ref - _ref_dense(s, t, loss, 3)) > 1e-3
    # the vectors the median-bias hook projects are those kept
    rows = loss.hashed_vectors(t, samples)
    assert rows.shape == (sum(map(sum, keep)), 18)
    first = next(i for i, k in enumerate(keep[0]) if k)
    y, x = divmod(first, LEVEL_SIZES[0][1])
    torch.testing.assert_close(rows[0].tolist(), _ref_unfold(t[0], 0, y, x, 3))


def test_joint_levels_no_position_left_gives_zero_with_gradient():
    loss = LSHLoss(in_channels=2, num_bits=6, std=0.7, bias='zero',
                   anchor_mask_head='bbox_head')
    loss.bind_models(_anchor_student(), None)
    s, t = _level_feats(1, 2, seed=13)
    s = [f.requires_grad_(True) for f in s]
    value = loss.forward_levels(s, t, _det_samples()[1:2])
    value.backward()
    assert value.item() == 0.0
    assert all(torch.isfinite(f.grad).all() for f in s)


def test_level_reductions_mean_and_sum():
    """'mean': one mean over the positions of both levels (the 5 x 6 level
    weighs 30/39); 'sum': one mean per level, which the distiller sums."""
    s, t = _feats(2, 3, 5, 6, seed=14)
    s2, t2 = _feats(2, 3, 3, 3, seed=15)
    kw = dict(in_channels=3, num_bits=5, std=0.6, bias='zero')
    joint = _with_random_bias(LSHLoss(**kw))
    ref = _ref_dense([s, s2], [t, t2], joint, 1)
    _close(joint.forward_levels([s, s2], [t, t2]), ref, tol=1e-7)
    per_level = LSHLoss(level_reduction='sum', **kw)
    per_level.proj_bias.copy_(joint.proj_bias)
    assert not per_level.joint_levels
    ref_sum = _ref_dense([s], [t], joint, 1) + _ref_dense([s2], [t2], joint, 1)
    _close(per_level(s, t) + per_level(s2, t2), ref_sum, tol=1e-7)
    assert abs(ref - ref_sum) > 1e-2
    with pytest.raises(TypeError, match='one level per call'):
        per_level.forward_levels([s, s2], [t, t2])


def test_unfold_single_map_matches_reference():
    s, t = _feats(2, 3, 4, 5, seed=16)
    for mode in ('l2', 'lsh'):
        kw = {} if mode == 'l2' else dict(num_bits=7, std=0.5, bias='zero')
        loss = LSHLoss(in_channels=3, mode=mode, unfold=3, **kw)
        if mode != 'l2':
            _with_random_bias(loss)
        _close(loss(s, t), _ref_dense([s], [t], loss, 3), tol=1e-7)
    loss = LSHLoss(in_channels=3, num_bits=7, std=0.5, bias='zero', unfold=5)
    _close(loss(s, t), _ref_dense([s], [t], loss, 5), tol=1e-7)
    assert loss.num_bits == 7 and loss.proj_weight.shape == (7, 75)
    assert LSHLoss(in_channels=3, std=1.0, unfold=3).num_bits == 32 * 27


def test_dense_option_errors():
    with pytest.raises(ValueError, match="unfold=3 takes the neighbourhood"):
        LSHLoss(in_channels=4, std=1.0, bias='zero',
                unfold=3)(torch.randn(2, 4), torch.randn(2, 4))
    loss = LSHLoss(in_channels=2, std=1.0, bias='zero',
                   anchor_mask_head='bbox_head')
    s, t = _level_feats(3, 2, seed=17)
    with pytest.raises(RuntimeError, match='bind_models'):
        loss.forward_levels(s, t, _det_samples())
    loss.bind_models(_anchor_student(), None)
    with pytest.raises(ValueError, match='needs the batch.s data_samples'):
        loss.forward_levels(s, t)
    with pytest.raises(ValueError, match='anchors on 2 levels but the loss '
                       'got 1'):
        loss.forward_levels(s[:1], t[:1], _det_samples())
    with pytest.raises(ValueError, match="closest names: \\['bbox_head'"):
        LSHLoss(in_channels=2, std=1.0,
                anchor_mask_head='bbox_haed').bind_models(
                    _anchor_student(), None)
    with pytest.raises(ValueError, match='must be an mmdet anchor head'):
        LSHLoss(in_channels=2, std=1.0,
                anchor_mask_head='bbox_head.cls_convs').bind_models(
                    _anchor_student(), None)
    with pytest.raises(TypeError, match='anchor_mask_head must be the path'):
        LSHLoss(in_channels=2, std=1.0, anchor_mask_head=3)


# --------------------------------- distiller: all levels of an entry at once
def _two_level_outputs(seed):
    """Recorder-style outputs of one module called twice (two levels)."""
    s, t = _feats(2, 3, 4, 5, seed=seed)
    s2, t2 = _feats(2, 3, 2, 3, seed=seed + 1)
    return [s, s2], [t, t2]


@pytest.mark.parametrize('reduction', ['mean', 'sum'])
def test_distiller_level_reduction(reduction):
    """The entry's loss: one call on both levels ('mean', logged without a
    level suffix) or the sum of one call per level ('sum')."""
    kw = dict(in_channels=3, num_bits=5, std=0.6, bias='zero')
    model = _distiller(
        student='backbone', teacher='backbone', connector=None,
        loss=dict(type='mmkd.LSHLoss', level_reduction=reduction,
                  loss_weight=2.0, **kw))
    s_levels, t_levels = _two_level_outputs(seed=20)
    out = model.distill_losses({'backbone': s_levels}, {'backbone': t_levels})
    ref_loss = LSHLoss(**kw)
    if reduction == 'mean':
        ref = _ref_dense(s_levels, t_levels, ref_loss, 1)
        assert {'distill.feat.l2', 'distill.feat.lsh'} <= set(out)
    else:
        ref = sum(
            _ref_dense([s], [t], ref_loss, 1)
            for s, t in zip(s_levels, t_levels))
        assert {'distill.feat.l0.lsh', 'distill.feat.l1.lsh'} <= set(out)
    _close(out['distill.feat.loss'], 2.0 * ref, tol=1e-6)


@pytest.mark.parametrize('entry, match', [
    (dict(num_levels=2), 'num_levels and level_weights do not apply'),
    (dict(level_weights=[1.0, 0.5]),
     'num_levels and level_weights do not apply'),
])
def test_distiller_joint_levels_entry_errors(entry, match):
    loss = dict(type='mmkd.LSHLoss', in_channels=3, num_bits=5, std=0.6,
                bias='zero')
    with pytest.raises(ValueError, match=match):
        _distiller(student='backbone', teacher='backbone', connector=None,
                   loss=loss, **entry)
    # with one loss per level they apply
    loss['level_reduction'] = 'sum'
    _distiller(student='backbone', teacher='backbone', connector=None,
               loss=loss, **entry)


def test_distiller_wrapped_joint_levels_loss_error():
    base = dict(type='mmkd.LSHLoss', in_channels=3, num_bits=5, std=0.6,
                bias='zero')
    with pytest.raises(
            ValueError, match="AvatarLoss calls its LSHLoss one "
            "level at a time.*level_reduction='sum'"):
        _distiller(student='backbone', teacher='backbone', connector=None,
                   loss=dict(type='mmkd.AvatarLoss', base=base))
    _distiller(
        student='backbone', teacher='backbone', connector=None,
        loss=dict(type='mmkd.AvatarLoss', base=dict(base,
                                                    level_reduction='sum')))


def test_distiller_binds_anchor_head_and_reports_a_wrong_one():
    with pytest.raises(
            ValueError, match="anchor_mask_head='head' "
            r'\(LinearClsHead\) must be an mmdet anchor head'):
        _distiller(
            student='backbone', teacher='backbone', connector=None,
            loss=dict(type='mmkd.LSHLoss', in_channels=3, num_bits=5, std=0.6,
                      bias='zero', anchor_mask_head='head'))
