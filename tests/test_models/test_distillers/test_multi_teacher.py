# Copyright (c) mmkd contributors. All rights reserved.
"""Several named teachers (MultiTeacherDistiller): identical teachers and
student give a loss of 0 through every kind of entry, also when one teacher
normalises its input differently; ensembles against a computation by hand;
bad configs stop at build or at the pre-flight check, naming the teacher."""
import pytest
import torch
import torch.nn.functional as F
from dense_utils import (config_path, load, mirror_default_teacher,
                         randomise_batchnorm, shrink_det_cfg)
from mmengine.registry import DefaultScope

from mmkd.apis import build_runner, prepare_train_cfg
from mmkd.models.teacher.teacher_view import TeacherView
from mmkd.registry import MODELS
from mmkd.structures import ClsDataSample

STUDENT = 'configs/toy/retinanet_r18-w32_shapes-coco.py'
WIDE = 'configs/toy/retinanet_r18-w64_shapes-coco.py'
# the student normalises as torchvision (RGB, mean/std); this teacher as
# caffe (BGR, mean only): the same raw image gives other values
CAFFE = {
    'model.data_preprocessor.mean': [103.53, 116.28, 123.675],
    'model.data_preprocessor.std': [1.0, 1.0, 1.0],
    'model.data_preprocessor.bgr_to_rgb': False,
}
PLAIN_TEACHER = dict(memory_format='contiguous', fold_batchnorm=False)


def _mse():
    return dict(type='mmkd.FeatureMSELoss')


@pytest.fixture(scope='module')
def twin_state():
    """The toy student's initial weights with non-trivial BatchNorm
    statistics."""
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(load(STUDENT).model)
    model.init_weights()
    randomise_batchnorm(model)
    return model.state_dict()


@pytest.fixture(scope='module')
def ckpts(twin_state, tmp_path_factory):
    """The twin's checkpoint, and the same network for a caffe-normalised
    input: the stem's weights take the other channel order and scale, so
    that it computes the same function of the raw image."""
    root = tmp_path_factory.mktemp('multi')
    twin = str(root / 'twin.pth')
    torch.save({'state_dict': twin_state}, twin)
    std = torch.tensor(load(STUDENT).model.data_preprocessor.std)
    state = dict(twin_state)
    conv = state['backbone.conv1.weight']  # student channels: R, G, B
    # caffe input channel c is the student's channel 2 - c times its std
    state['backbone.conv1.weight'] = conv.flip(1) / std.flip(0).view(
        1, 3, 1, 1)
    caffe = str(root / 'caffe.pth')
    torch.save({'state_dict': state}, caffe)
    return dict(twin=twin, caffe=caffe)


def _teacher(ckpt, rel=STUDENT, **options):
    return dict(
        config=config_path(rel), checkpoint=ckpt, cfg_options=options or None)


def _distiller(teachers, distill, teacher_exec=PLAIN_TEACHER, state=None):
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(
            dict(type='mmkd.MultiTeacherDistiller',
                 student=load(STUDENT).model, teachers=teachers,
                 teacher_exec=teacher_exec, distill=distill))
    if state is not None:
        model.student.load_state_dict(state)
    return model.eval()


def _entries():
    return dict(
        a=dict(student='neck', teacher='a.neck',
               loss=_mse()), b=dict(student='neck', teacher='b.neck',
                                    loss=_mse()),
        mean=dict(student='neck', teacher=['a.neck', 'b.neck'], loss=_mse()),
        unc=dict(student='neck', teacher=['a.neck', 'b.neck'], loss=_mse(),
                 ensemble='uncertainty'))


@pytest.fixture(scope='module')
def batches(coco_shapes_root, tmp_path_factory):
    work = str(tmp_path_factory.mktemp('multi_work'))
    cfg = shrink_det_cfg(load(STUDENT), coco_shapes_root, work, batch_size=2)
    runner = build_runner(prepare_train_cfg(cfg, work_dir=work))
    loader = iter(runner.train_dataloader)
    return [next(loader) for _ in range(2)]


def _losses(model, batch):
    data = model.data_preprocessor(batch, True)
    return model.loss(data['inputs'], data['data_samples'])


@pytest.mark.parametrize('teacher_exec', [PLAIN_TEACHER, {}],
                         ids=['plain-teacher', 'default-teacher'])
def test_identical_teachers_give_zero_loss(ckpts, twin_state, batches,
                                           teacher_exec):
    """Two teachers and a student that are one network: 0 through each
    single-teacher entry, the mean and the uncertainty ensemble, with the
    plain and with the default teacher options (the student then computes
    as the default teacher does)."""
    model = _distiller(
        dict(a=_teacher(ckpts['twin']), b=_teacher(ckpts['twin'])), _entries(),
        teacher_exec, twin_state)
    if not teacher_exec:
        mirror_default_teacher(model.student, keep=['neck'])
        assert all(s.execution.channels_last for s in model.teacher_slots)
    data = model.data_preprocessor(batches[0], True)
    model.check_distill(data['inputs'], data['data_samples'])
    for batch in batches:
        losses = _losses(model, batch)
        for name in ('a', 'b', 'mean', 'unc'):
            assert losses[f'distill.{name}.loss'].item() == 0.0, name
        # the teachers agree exactly: no channel is scaled
        assert losses['distill.unc.l0.uncertainty'].item() == 1.0
    # the one-teacher path of the same entry reads the same value
    student_out = model.student_recorder.run(model.student, data['inputs'],
                                             data['data_samples'], 'loss')
    assert model.distill_losses(student_out,
                                model.teacher_outputs(
                                    data['inputs'], data['data_samples']),
                                data['data_samples'])['distill.mean.loss'] \
        .item() == 0.0


def test_a_teacher_normalising_differently_sees_the_same_image(
        ckpts, twin_state, batches):
    """Teacher b normalises as caffe (BGR, no std) and its stem is the
    student's re-ordered and scaled: re-normalised for it, the student's
    batch gives the same features (float rounding), so every loss is 0 up to
    rounding; without the re-normalisation the features differ."""
    model = _distiller(
        dict(a=_teacher(ckpts['twin']), b=_teacher(ckpts['caffe'], **CAFFE)),
        _entries(), state=twin_state)
    assert model.teacher_slots[0].view.identity
    assert 're-normalised' in model.teacher_slots[1].view.describe("'b'")
    data = model.data_preprocessor(batches[0], True)
    out = model.teacher_outputs(data['inputs'], data['data_samples'])
    scale = max(t.abs().max().item() for t in out['a.neck'][0])
    for t_a, t_b in zip(out['a.neck'][0], out['b.neck'][0]):
        assert (t_a - t_b).abs().max().item() <= 1e-5 * scale
    losses = _losses(model, batches[0])
    energy = torch.stack([t.square().mean() for t in out['a.neck'][0]]).sum()
    for name in ('a', 'b', 'mean'):
        assert losses[f'distill.{name}.loss'].item() <= 1e-9 * energy, name
    # (the uncertainty ensemble divides by the teachers' spread, here the
    # rounding: sigma = sqrt(var + eps) ~ 1e-3 magnifies it a million-fold)
    # control: the same teacher fed the student's values as they are
    slot = model.teacher_slots[1]
    slot.view = TeacherView(slot.view.student, slot.view.student)
    assert _losses(model, batches[0])['distill.b.loss'].item() > 1e-3 * energy


@pytest.fixture(scope='module')
def two_ckpts(tmp_path_factory):
    """Two differently initialised toy students, as teacher checkpoints."""
    root = tmp_path_factory.mktemp('two')
    paths = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        with DefaultScope.overwrite_default_scope('mmdet'):
            model = MODELS.build(load(STUDENT).model)
        model.init_weights()
        paths.append(str(root / f'{seed}.pth'))
        torch.save({'state_dict': model.state_dict()}, paths[-1])
    return paths


def test_ensembles_against_a_computation_by_hand(two_ckpts, batches):
    """Mean: MSE to the teachers' mean; uncertainty: sigma^2 per channel
    the teachers' variance about their mean, MSE of both sides over sigma,
    averaged over the teachers; per FPN level."""
    model = _distiller(
        dict(a=_teacher(two_ckpts[0]), b=_teacher(two_ckpts[1])),
        dict(mean=_entries()['mean'], unc=_entries()['unc']))
    data = model.data_preprocessor(batches[0], True)
    student = model.student_recorder.run(model.student, data['inputs'],
                                         data['data_samples'], 'loss')
    teachers = model.teacher_outputs(data['inputs'], data['data_samples'])
    losses = model.distill_losses(student, teachers, data['data_samples'])
    want_mean = want_unc = 0.
    for s, a, b in zip(student['neck'][0], teachers['a.neck'][0],
                       teachers['b.neck'][0]):
        want_mean += F.mse_loss(s, (a + b) / 2)
        mid = (a + b) / 2
        var = ((a - mid)**2 + (b - mid)**2).mean(dim=(0, 2, 3)) / 2
        sigma = (var + 1e-6).sqrt().view(1, -1, 1, 1)
        want_unc += (F.mse_loss(s / sigma, a / sigma) +
                     F.mse_loss(s / sigma, b / sigma)) / 2
    torch.testing.assert_close(losses['distill.mean.loss'], want_mean)
    torch.testing.assert_close(losses['distill.unc.loss'], want_unc)


def test_teacher_recordings_are_made_one_at_a_time(two_ckpts, batches):
    """Each teacher runs when its recording is asked for and records only
    its own modules."""
    model = _distiller(
        dict(a=_teacher(two_ckpts[0]), b=_teacher(two_ckpts[1])),
        dict(a=_entries()['a'], b=_entries()['b']))
    data = model.data_preprocessor(batches[0], True)
    runs = []
    for slot in model.teacher_slots:
        slot.model.register_forward_pre_hook(
            lambda *_, name=slot.name: runs.append(name))
    recordings = model.teacher_recordings(data['inputs'], data['data_samples'])
    first = next(recordings)
    assert runs == ['a'] and list(first) == ['a.neck']
    assert list(next(recordings)) == ['b.neck'] and runs == ['a', 'b']


# ----------------------------------------------------------------- errors
def _build_error(two_ckpts, distill, match, teachers=None, **kwargs):
    teachers = teachers or dict(
        a=_teacher(two_ckpts[0]), b=_teacher(two_ckpts[1]))
    with pytest.raises((ValueError, TypeError), match=match):
        with DefaultScope.overwrite_default_scope('mmdet'):
            MODELS.build(
                dict(type='mmkd.MultiTeacherDistiller',
                     student=load(STUDENT).model, teachers=teachers,
                     distill=distill, **kwargs))


@pytest.mark.parametrize(
    'entry,match', [
        (dict(teacher='c.neck'), r"'c.neck' names no teacher's module.*"
         r"'<name>.<module>'.*the teachers are \['a', 'b'\]"),
        (dict(teacher='neck'), "names no teacher's module"),
        (dict(teacher='a.necks'), "teacher 'a' has no module 'necks'"),
        (dict(teacher=['a.neck', 'b.necks']), "teacher 'b' has no module"),
        (dict(teacher='a.neck', ensemble='mean'), 'reads one'),
        (dict(teacher=['a.neck', 'b.neck'],
              ensemble='median'), "ensemble='mean' or 'uncertainty'"),
    ], ids=[
        'unknown-teacher', 'no-name', 'missing-module', 'missing-in-one',
        'ensemble-of-one', 'unknown-mode'
    ])
def test_bad_entries_stop_at_build(two_ckpts, entry, match):
    cfg = dict(student='neck', loss=_mse(), **entry)
    # (with an entry on each teacher: one that no entry reads is refused)
    _build_error(two_ckpts, dict(x=cfg, a=_entries()['a'], b=_entries()['b']),
                 match)


def test_bad_teachers_stop_at_build(two_ckpts):
    entry = dict(x=_entries()['a'])
    _build_error(two_ckpts, entry, r"teachers \['b'\] are read by no")
    _build_error(two_ckpts, entry, 'not `teacher`',
                 teacher=_teacher(two_ckpts[0]))
    _build_error(two_ckpts, entry, 'no dots',
                 teachers={'a.b': _teacher(two_ckpts[0])})
    with pytest.raises(FileNotFoundError, match="teacher 'a'"):
        _build_error(two_ckpts, entry, '',
                     teachers=dict(a=_teacher('missing.pth')))


def test_uncertainty_needs_a_feature_loss_and_heads_one_teacher(two_ckpts):
    _build_error(
        two_ckpts,
        dict(
            kd=dict(
                student='bbox_head.retina_cls', teacher=[
                    'a.bbox_head.retina_cls', 'b.bbox_head.'
                    'retina_cls'
                ], ensemble='uncertainty', loss=dict(type='mmkd.KDLoss'))),
        'logit loss')
    _build_error(
        two_ckpts,
        dict(
            head=dict(student='bbox_head', teacher=[
                'a.bbox_head', 'b.bbox_head'
            ], loss=dict(type='mmkd.CrossKDLoss', head_idx=2))), 'one teacher')


def test_teachers_that_cannot_be_combined_stop_before_iteration_1(
        two_ckpts, batches, tmp_path):
    """The R18-w32 and R18-w64 FPNs (64 against 128 channels) cannot be
    averaged: the pre-flight check names both teachers and the fix."""
    wide = str(tmp_path / 'wide.pth')
    with DefaultScope.overwrite_default_scope('mmdet'):
        torch.save({'state_dict': MODELS.build(load(WIDE).model).state_dict()},
                   wide)
    model = _distiller(
        dict(a=_teacher(two_ckpts[0]), b=_teacher(wide, WIDE)),
        dict(mean=_entries()['mean']))
    data = model.data_preprocessor(batches[0], True)
    with pytest.raises(
            ValueError, match=r"cannot be combined.*'a.neck' "
            r"gives \[\(2, 64.*'b.neck' gives \[\(2, 128.*own "
            'entry with its own connector'):
        model.check_distill(data['inputs'], data['data_samples'])


# ----------------------------------------------------------------- logits
MNIST_S = 'configs/cls/mnist/convnet-s_mnist.py'
MNIST_T = 'configs/cls/mnist/convnet-l_mnist.py'


@pytest.mark.parametrize('loss', [
    dict(type='mmkd.KDLoss', temperature=4.0, loss_weight=0.9),
    dict(type='mmkd.DKDLoss'),
], ids=['kd', 'dkd'])
def test_logit_losses_take_the_mean_of_the_teachers_logits(loss, tmp_path):
    """KD and DKD from two MNIST teachers: the loss on the teachers' mean
    logits; KD by hand, T^2 KL(softmax(mean_k zt_k / T) || softmax(zs /
    T)), DKD as the one-teacher loss given the mean logits."""
    teachers = {}
    for name, seed in (('l1', 1), ('l2', 2)):
        torch.manual_seed(seed)
        model = MODELS.build(load(MNIST_T).model)
        path = str(tmp_path / f'{name}.pth')
        torch.save({'state_dict': model.state_dict()}, path)
        teachers[name] = dict(config=config_path(MNIST_T), checkpoint=path)
    model = MODELS.build(
        dict(
            type='mmkd.MultiTeacherDistiller', student=load(MNIST_S).model,
            teachers=teachers, distill={
                'head.fc':
                dict(student='head.fc', teacher=['l1.head.fc', 'l2.head.fc'],
                     loss=loss)
            }))
    x = torch.randn(6, 1, 28, 28)
    samples = [ClsDataSample().set_gt_label(y) for y in (3, 1, 4, 1, 5, 9)]
    student = model.student_recorder.run(model.student, x, samples, 'loss')
    out = model.teacher_outputs(x, samples)
    zs = student['head.fc'][0]
    z1, z2 = out['l1.head.fc'][0], out['l2.head.fc'][0]
    assert not torch.allclose(z1, z2)
    got = model.distill_losses(student, out, samples)['distill.head.fc.loss']
    entry = model.distill_entries[0]
    if loss['type'] == 'mmkd.KDLoss':
        t = 4.0
        want = 0.9 * t**2 * F.kl_div(
            F.log_softmax(zs / t, 1), F.softmax(
                (z1 + z2) / 2 / t, 1), reduction='batchmean')
    else:
        labels = torch.tensor([3, 1, 4, 1, 5, 9])
        want = entry.losses[0](zs, (z1 + z2) / 2, labels)
    torch.testing.assert_close(got, want)
