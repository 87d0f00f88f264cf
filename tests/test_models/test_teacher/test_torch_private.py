# Copyright (c) mmkd contributors. All rights reserved.
"""The private torch entry points behind mmkd.utils.torch_private: each made
unavailable in turn (renamed, or with another signature, as a torch release
might), the teacher runs its plain path, says so once, and gives the plain
teacher's features."""
import warnings

import pytest
import torch
from test_models.test_teacher import test_teacher_execution as tex

from mmkd.utils import torch_private

NAMES = sorted(torch_private.ENTRY_POINTS)


@pytest.fixture
def without(monkeypatch):
    """``without(name)``: this torch as if ``name`` had been renamed."""

    def remove(name):
        entry = torch_private.ENTRY_POINTS[name]
        monkeypatch.setitem(torch_private.ENTRY_POINTS, name,
                            entry._replace(path=entry.path + '_renamed'))
        torch_private.reset()

    yield remove
    torch_private.reset()


def test_every_entry_point_is_available_on_the_tested_torch():
    torch_private.reset()
    assert torch_private.unavailable() == []


@pytest.mark.parametrize('name', NAMES)
def test_a_missing_entry_point_warns_once(without, name):
    without(name)
    path = torch_private.ENTRY_POINTS[name].path
    with pytest.warns(RuntimeWarning, match=path.replace('.', r'\.')):
        assert not torch_private.available(name)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert not torch_private.available(name)  # once only
    assert name in torch_private.unavailable()


@pytest.fixture(scope='module')
def teacher_ckpt(tmp_path_factory):
    return tex._checkpoint(tex.RETINA_T, 'mmdet',
                           tmp_path_factory.mktemp('teacher') / 'teacher.pth')


@pytest.mark.parametrize('name', NAMES)
@pytest.mark.parametrize(
    'options,tolerance',
    [
        (dict(), 1e-5),  # the default teacher
        (dict(memory_format='channels_last', fold_batchnorm=False), 1e-5),
    ])
def test_the_teacher_runs_the_plain_path_without_it(without, teacher_ckpt,
                                                    name, options, tolerance):
    without(name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        tex.test_options_match_the_plain_fp32_teacher(teacher_ckpt, options,
                                                      tolerance)
    said = [
        str(w.message) for w in caught
        if issubclass(w.category, RuntimeWarning)
    ]
    if name == 'inductor_config':  # used by compile=True only
        assert not said
        return
    assert len(said) == 1 and 'falls back' in said[0], said
    model = tex._distiller(teacher_ckpt, **options)
    if name.startswith('mkldnn') or name == 'tensor_version':
        assert model.teacher_exec.num_prepacked == 0  # the plain conv


def test_compile_runs_without_inductor_config(without, teacher_ckpt):
    without('inductor_config')
    with pytest.warns(RuntimeWarning, match='without frozen weights'):
        tex.test_compiled_backbone_matches_the_plain_teacher(teacher_ckpt)


def test_a_changed_signature_is_caught_by_the_probe(monkeypatch):
    real = torch.ops.mkldnn._reorder_convolution_weight

    def reordered_arguments(weight, input_shape, padding, stride, dilation,
                            groups):
        return real(weight, padding, stride, dilation, groups, input_shape)

    monkeypatch.setattr(torch.ops.mkldnn, '_reorder_convolution_weight',
                        reordered_arguments)
    torch_private.reset()
    try:
        with pytest.warns(RuntimeWarning, match='unavailable'):
            assert not torch_private.available('mkldnn_reorder_conv_weight')
    finally:
        monkeypatch.undo()
        torch_private.reset()
    assert torch_private.available('mkldnn_reorder_conv_weight')


def test_the_recorder_copies_every_output_without_version_counters(without):
    from mmkd.models.recording import ModuleOutputRecorder
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 2, 1), torch.nn.ReLU(True))
    recorder = ModuleOutputRecorder(net, ['0'])
    x = torch.randn(1, 2, 3, 3)
    want = net[0](x)
    without('tensor_version')
    with pytest.warns(RuntimeWarning, match='every recorded output copied'):
        got = recorder.run(net, x)['0'][0]
    assert torch.equal(got, want)  # the in-place ReLU did not reach it
