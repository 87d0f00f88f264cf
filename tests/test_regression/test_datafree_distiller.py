# Copyright (c) mmkd contributors. All rights reserved.
"""DataFreeRegressionDistiller (Zhou & Chiam, arXiv 2301.04338)."""
import warnings

import pytest
import torch
from mmengine.optim import OptimWrapperDict
from torch.utils.data import default_collate

from mmkd.datasets import NoiseSeedDataset
from mmkd.engine.optimizers import SubmoduleOptimWrapperConstructor
from mmkd.models import DataFreeRegressionDistiller, MLPRegressor
from mmkd.models.distillers import build_mixing_schedule

D = 5
RMSPROP = dict(type='OptimWrapper', optimizer=dict(type='RMSprop', lr=1e-3,
                                                   weight_decay=1e-5))


def distiller(seed=0, **kw):
    kw.setdefault('max_epochs', 10)
    kw.setdefault('batch_size', 8)
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # teacher without checkpoint
        return DataFreeRegressionDistiller(
            teacher=dict(model=dict(type='mmkd.MLPRegressor', hidden=32)),
            student=dict(type='mmkd.MLPRegressor',
                         hidden=4), in_features=D, **kw)


def wrappers(model):
    return SubmoduleOptimWrapperConstructor(
        dict(student=RMSPROP, generator=RMSPROP))(
            model)


def batch(i, seed=0):
    return default_collate([NoiseSeedDataset(100, seed)[i]])


def gap(model, x):
    with torch.no_grad():
        return float((model.teacher(x) - model.student(x)).pow(2).mean())


def test_direct_inputs_increase_the_gap():
    model = distiller(strategy='direct')
    x0 = torch.randn(64, D, generator=torch.Generator().manual_seed(1))
    x = model.direct_inputs(64, torch.Generator().manual_seed(1))
    assert gap(model, x) > 2 * gap(model, x0)
    assert not x.requires_grad


def test_direct_step_is_rmsprop_with_weight_decay_beta():
    model = distiller(strategy='direct', direct_steps=1, beta=0.3, gamma=0.2)
    x0 = torch.randn(6, D, generator=torch.Generator().manual_seed(2))
    x = model.direct_inputs(6, torch.Generator().manual_seed(2))
    # one RMSprop step by hand: g = dJ/dx + beta x, v = 0.01 g^2,
    # x1 = x0 - lr g / (sqrt(v) + eps), J = mean(-(T-S)^2 + gamma S^2)
    xr = x0.clone().requires_grad_(True)
    t, s = model.teacher(xr), model.student(xr)
    objective = (-(t - s)**2 + 0.2 * s**2).mean()
    grad, = torch.autograd.grad(objective, [xr])
    g = grad + 0.3 * x0
    expected = x0 - 0.1 * g / ((0.01 * g * g).sqrt() + 1e-8)
    torch.testing.assert_close(x, expected, rtol=1e-5, atol=1e-6)


def test_bound_keeps_direct_inputs_finite():
    # Many steps: without the bound the inputs run away (tanh saturates and
    # the gap keeps rewarding larger inputs); the weight decay beta holds
    # them near the origin.
    free = distiller(strategy='direct', direct_steps=200, beta=0.0,
                     gamma=0.0).direct_inputs(32,
                                              torch.Generator().manual_seed(3))
    bound = distiller(strategy='direct', direct_steps=200, beta=0.1,
                      gamma=0.0).direct_inputs(
                          32,
                          torch.Generator().manual_seed(3))
    x0 = torch.randn(32, D, generator=torch.Generator().manual_seed(3))
    assert torch.isfinite(bound).all()
    assert bound.norm(dim=1).mean() < x0.norm(dim=1).mean()
    assert free.norm(dim=1).mean() > 5 * bound.norm(dim=1).mean()


def test_generator_loss_hand_computed():
    model = distiller(strategy='generator', beta=0.5, gamma=0.25)
    t = torch.tensor([1.0, -1.0, 2.0])
    s = torch.tensor([0.0, 1.0, 2.0])
    x = torch.tensor([[1.0, 2.0], [0.0, -1.0], [3.0, 0.0]])
    # mean(-(T-S)^2 + gamma S^2) = mean(-1 + 0, -4 + 0.25, 0 + 1) = -3.75/3
    # beta * sum ||x||^2 = 0.5 * (5 + 1 + 9) = 7.5
    assert float(model.generator_loss(t, s,
                                      x)) == pytest.approx(-3.75 / 3 + 7.5)
    # sign: for equal inputs, a larger teacher-student gap is a lower loss
    assert model.generator_loss(t, s - 1, x) < model.generator_loss(t, s, x)


def test_student_loss_hand_computed():
    tg, sg = torch.tensor([1.0, 3.0]), torch.tensor([0.0, 1.0])
    tp, sp = torch.tensor([2.0, 2.0]), torch.tensor([2.0, -1.0])
    # a = 0.25: mean(0.25*[1, 4] + 0.75*[0, 9]) = mean(0.25, 7.75) = 4
    loss = DataFreeRegressionDistiller.student_loss(tg, sg, tp, sp, 0.25)
    assert float(loss) == pytest.approx(4.0)
    assert float(
        DataFreeRegressionDistiller.student_loss(None, None, tp, sp,
                                                 0.7)) == pytest.approx(4.5)


def test_mixing_schedules():
    dec = build_mixing_schedule('decreasing')
    assert dec(0, 4) == pytest.approx(0.75) and dec(3, 4) == 0.0
    assert build_mixing_schedule(dict(type='decreasing'))(1, 4) == 0.5
    assert build_mixing_schedule(dict(type='fixed', value=1.0))(7, 10) == 1.0
    assert build_mixing_schedule(0.3)(0, 10) == 0.3
    for bad in ('increasing', 1.5, dict(type='fixed'), True):
        with pytest.raises(ValueError, match='mixing must be'):
            build_mixing_schedule(bad)


def test_train_step_runs_each_strategy_and_logs_a():
    for strategy in ('gaussian', 'generator', 'direct'):
        model = distiller(strategy=strategy)
        before = model.student.fc_in.weight.detach().clone()
        teacher_before = model.teacher.fc_in.weight.detach().clone()
        gen = None if model.generator is None else \
            model.generator.fc_in.weight.detach().clone()
        log = model.train_step(batch(2), wrappers(model))
        assert not torch.equal(before, model.student.fc_in.weight)
        assert torch.equal(teacher_before, model.teacher.fc_in.weight)
        expected_a = 0.0 if strategy == 'gaussian' else 1 - 3 / 10
        assert float(log['mixing_weight']) == pytest.approx(expected_a)
        if gen is not None:  # one generator step per epoch
            assert not torch.equal(gen, model.generator.fc_in.weight)
            assert 'loss_generator' in log


def test_a_zero_trains_on_gaussian_samples_only():
    """With a = 0 the synthetic inputs get weight 0: the student follows
    exactly the trajectory of the Gaussian baseline (same seeds)."""
    runs = {}
    for name, kw in dict(
            gaussian=dict(strategy='gaussian'),
            direct0=dict(strategy='direct',
                         mixing=0.0), generator0=dict(strategy='generator',
                                                      mixing=0.0),
            direct_half=dict(strategy='direct', mixing=0.5)).items():
        model = distiller(seed=5, **kw)
        optim = wrappers(model)
        for i in range(3):
            model.train_step(batch(i, seed=9), optim)
        runs[name] = model.student.state_dict()
    for name in ('direct0', 'generator0'):
        for key, value in runs['gaussian'].items():
            torch.testing.assert_close(runs[name][key], value, rtol=0,
                                       atol=1e-7)
    assert not torch.allclose(runs['direct_half']['fc_in.weight'],
                              runs['gaussian']['fc_in.weight'])


def test_train_step_is_reproducible_from_the_seed():
    states = []
    for _ in range(2):
        model = distiller(seed=1, strategy='direct')
        optim = wrappers(model)
        for i in range(2):
            model.train_step(batch(i, seed=4), optim)
        states.append(model.student.fc_out.weight.detach().clone())
    torch.testing.assert_close(states[0], states[1], rtol=0, atol=0)


def test_train_step_refuses_real_rows_and_bad_batches():
    model = distiller(strategy='direct')
    optim = wrappers(model)
    data = batch(0)
    data['inputs'] = torch.zeros(1, D)
    with pytest.raises(ValueError, match='must not receive real samples'):
        model.train_step(data, optim)
    with pytest.raises(TypeError, match=r'must yield dict\(index, seed\)'):
        model.train_step(dict(inputs=torch.zeros(2, D)), optim)
    with pytest.raises(ValueError, match=r'epoch index 10 is outside '
                       r'\[0, 10\)'):
        model.train_step(batch(10), optim)
    gen_model = distiller(strategy='generator')
    only_student = SubmoduleOptimWrapperConstructor(dict(student=RMSPROP))(
        gen_model)
    with pytest.raises(KeyError, match="no 'generator' entry"):
        gen_model.train_step(batch(0), only_student)


def test_constructor_skips_absent_generator_and_rejects_unknown():
    model = distiller(strategy='direct')
    built = wrappers(model)
    assert isinstance(built, OptimWrapperDict)
    assert list(built.keys()) == ['student']
    with pytest.raises(AttributeError, match="no submodule of that name"):
        SubmoduleOptimWrapperConstructor(dict(critic=RMSPROP))(model)


def test_bad_arguments():
    with pytest.raises(ValueError, match='strategy must be one of'):
        distiller(strategy='adversarial')
    with pytest.raises(ValueError, match='batch_size must be a positive'):
        distiller(batch_size=0)
    with pytest.raises(ValueError, match='the student config has '
                       'in_features=7'):
        DataFreeRegressionDistiller(
            teacher=dict(model=dict(type='mmkd.MLPRegressor')),
            student=dict(type='mmkd.MLPRegressor',
                         in_features=7), in_features=D)


def test_teacher_checkpoint_input_size_must_match(tmp_path):
    ckpt = str(tmp_path / 'teacher21.pth')
    torch.save(dict(state_dict=MLPRegressor(21, hidden=16).state_dict()), ckpt)
    with pytest.raises(
            ValueError, match='was trained on 21 input features '
            r'.*in_features=12'):
        DataFreeRegressionDistiller(
            teacher=dict(
                model=dict(type='mmkd.MLPRegressor', hidden=16),
                checkpoint=ckpt), student=dict(type='mmkd.MLPRegressor',
                                               hidden=4), in_features=12)
    # the right size loads, strictly, and the teacher is frozen in eval mode
    model = DataFreeRegressionDistiller(
        teacher=dict(
            model=dict(type='mmkd.MLPRegressor', hidden=16), checkpoint=ckpt),
        student=dict(type='mmkd.MLPRegressor', hidden=4), in_features=21)
    saved = torch.load(ckpt)['state_dict']
    torch.testing.assert_close(model.teacher.fc_in.weight,
                               saved['fc_in.weight'])
    model.train()
    assert not model.teacher.training and model.student.training
    assert not any(p.requires_grad for p in model.teacher.parameters())


def test_predict_delegates_to_the_student():
    model = distiller(strategy='gaussian')
    x = torch.randn(3, D)
    out = model(x, torch.zeros(3), mode='predict')
    torch.testing.assert_close(out[0]['pred'], model.student(x))
    with pytest.raises(RuntimeError, match='no loss mode'):
        model(x, torch.zeros(3), mode='loss')
    with pytest.raises(ValueError, match=r'expects inputs of shape \(B, 5\)'):
        model(torch.randn(3, 4))


def test_several_processes_are_refused_before_training():
    """mmengine's DDP wrapper would bypass the distiller's train_step:
    the runner refuses to wrap it, saying why and how to start instead."""
    from mmkd.engine.runner import check_distributed
    model = distiller()
    assert not model.SUPPORTS_DISTRIBUTED
    with pytest.raises(RuntimeError) as err:
        check_distributed(model)
    message = str(err.value)
    assert message.startswith('DataFreeRegressionDistiller trains in one '
                              'process only')
    assert "forward(mode='loss')" in message
    assert 'python tools/train.py CONFIG' in message
