# Copyright (c) mmkd contributors. All rights reserved.
"""The private torch entry points' probes answer for the whole process, so
they run in one fixed context whatever the first caller's (inference mode,
autocast, another default dtype), leave the caller's context as it was,
and a failing probe's warning says which reason applies."""
import pytest
import torch

from mmkd.utils import torch_private

NAMES = sorted(torch_private.ENTRY_POINTS)


@pytest.fixture
def fresh():
    """Probes not run yet in this process (as on a first call), and
    forgotten again afterwards."""
    torch_private.reset()
    yield
    torch_private.reset()


def _available_everywhere():
    return {name: torch_private.available(name) for name in NAMES}


def test_first_probe_under_inference_mode(fresh):
    """Inference tensors have no version counter; a first probe inside
    ``torch.inference_mode()`` must not switch the recorder's check off for
    the rest of the process."""
    with torch.inference_mode():
        assert torch_private.available('tensor_version')
        assert torch.is_inference_mode_enabled()  # the caller's context
    assert torch_private.tensor_version(torch.zeros(1)) == 0


def test_first_probe_under_autocast(fresh):
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert all(_available_everywhere().values())
        assert torch.is_autocast_enabled('cpu')
    assert torch_private.unavailable() == []


def test_first_probe_with_another_default_dtype(fresh):
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        assert all(_available_everywhere().values())
        assert torch.get_default_dtype() == torch.float64
    finally:
        torch.set_default_dtype(before)


def test_first_probe_without_grad(fresh):
    with torch.no_grad():
        assert all(_available_everywhere().values())
        assert not torch.is_grad_enabled()


def _warning(name):
    with pytest.warns(RuntimeWarning) as caught:
        assert not torch_private.available(name)
    (warning, ) = caught
    return str(warning.message)


def test_backend_unavailable_is_said(fresh, monkeypatch):
    """A torch built without oneDNN: the entry points exist but cannot run;
    the warning says so, not that a probe computed a wrong result."""
    monkeypatch.setattr(torch.backends.mkldnn, 'is_available', lambda: False)
    text = _warning('mkldnn_conv_pointwise')
    assert 'backend unavailable' in text
    assert 'torch.backends.mkldnn.is_available() is False' in text
    assert 'wrong result' not in text
    assert torch_private.available('tensor_version')  # not oneDNN's


def test_missing_entry_point_is_said(fresh, monkeypatch):
    entry = torch_private.ENTRY_POINTS['inductor_config']
    monkeypatch.setitem(torch_private.ENTRY_POINTS, 'inductor_config',
                        entry._replace(path='torch._inductor.config_gone'))
    text = _warning('inductor_config')
    assert 'missing entry point' in text and 'config_gone' in text


def test_changed_signature_is_said(fresh, monkeypatch):
    real = torch.ops.mkldnn._convolution_pointwise

    def no_bias_argument(x, weight, padding, stride, dilation, groups, attr,
                         scalars, algorithm):
        return real(x, weight, None, padding, stride, dilation, groups, attr,
                    scalars, algorithm)

    monkeypatch.setattr(torch.ops.mkldnn, '_convolution_pointwise',
                        no_bias_argument)
    text = _warning('mkldnn_conv_pointwise')
    assert 'changed signature' in text and 'TypeError' in text


def test_wrong_result_is_said(fresh, monkeypatch):
    real = torch.ops.mkldnn._convolution_pointwise

    def ignores_the_bias(x, weight, bias, *args):
        return real(x, weight, None, *args)

    monkeypatch.setattr(torch.ops.mkldnn, '_convolution_pointwise',
                        ignores_the_bias)
    text = _warning('mkldnn_conv_pointwise')
    assert 'wrong result' in text and 'public computation' in text
