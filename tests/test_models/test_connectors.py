# Copyright (c) mmkd contributors. All rights reserved.
import pytest
import torch
import torch.nn.functional as F

from mmkd.models.connectors import (ConvConnector, LinearConnector,
                                    ResizeConnector)
from mmkd.models.losses import FeatureMSELoss
from mmkd.registry import MODELS


def test_conv_connector_is_conv_then_bn():
    torch.manual_seed(0)
    conn = MODELS.build(
        dict(type='mmkd.ConvConnector', in_channels=3, out_channels=5))
    x = torch.randn(4, 3, 2, 3)
    y = conn(x, target_size=(7, 7))  # extra argument ignored
    assert y.shape == (4, 5, 2, 3)
    assert conn.conv.bias is None and conn.conv.kernel_size == (1, 1)
    # naive: per output channel, sum_c w[o, c] x[:, c], then batch-normalise
    w = conn.conv.weight.view(5, 3)
    ref = torch.einsum('oc,bchw->bohw', w, x)
    mean = ref.mean(dim=(0, 2, 3), keepdim=True)
    var = ref.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    ref = (ref - mean) / torch.sqrt(var + 1e-5)
    assert torch.allclose(y, ref, atol=1e-5)


def test_conv_connector_gn_act_no_norm():
    torch.manual_seed(0)
    x = torch.randn(2, 4, 5, 5)
    gn = ConvConnector(4, 6, kernel_size=3,
                       norm_cfg=dict(type='GN',
                                     num_groups=2), act_cfg=dict(type='ReLU'))
    y = gn(x)
    assert y.shape == (2, 6, 5, 5) and float(y.min()) >= 0
    pre = gn.conv(x).view(2, 2, 3 * 25)
    ref = (pre - pre.mean(-1, keepdim=True)
           ) / torch.sqrt(pre.var(-1, unbiased=False, keepdim=True) + 1e-5)
    assert torch.allclose(y, ref.view(2, 6, 5, 5).clamp(min=0), atol=1e-5)
    plain = ConvConnector(4, 6, norm_cfg=None)
    assert plain.conv.bias is not None
    assert torch.allclose(
        plain(x), F.conv2d(x, plain.conv.weight, plain.conv.bias))


def test_conv_connector_errors():
    with pytest.raises(ValueError, match="'BN' or 'GN'"):
        ConvConnector(3, 4, norm_cfg=dict(type='LN'))
    with pytest.raises(ValueError, match='num_groups'):
        ConvConnector(3, 6, norm_cfg=dict(type='GN', num_groups=4))
    with pytest.raises(ValueError, match='odd'):
        ConvConnector(3, 4, kernel_size=2)
    with pytest.raises(ValueError, match='activation'):
        ConvConnector(3, 4, act_cfg=dict(type='NoSuchAct'))
    conn = ConvConnector(3, 4)
    with pytest.raises(ValueError, match='in_channels=3 but got 5'):
        conn(torch.randn(1, 5, 2, 2))
    with pytest.raises(ValueError, match='4-D'):
        conn(torch.randn(2, 3))
    with pytest.raises(TypeError, match='tuple'):
        conn((torch.randn(1, 3, 2, 2), ))


def test_linear_connector():
    torch.manual_seed(0)
    conn = MODELS.build(
        dict(type='mmkd.LinearConnector', in_features=3, out_features=2))
    x = torch.randn(4, 3)
    ref = torch.stack([
        torch.stack([
            sum(conn.fc.weight[o, i] * x[b, i]
                for i in range(3)) + conn.fc.bias[o] for o in range(2)
        ]) for b in range(4)
    ])
    assert torch.allclose(conn(x), ref, atol=1e-6)
    with pytest.raises(ValueError, match='in_features=3 but got 5'):
        conn(torch.randn(4, 5))
    with pytest.raises(ValueError, match='2-D'):
        conn(torch.randn(4, 3, 1, 1))
    with pytest.raises(ValueError, match='out_features must be a positive'):
        LinearConnector(3, 0)


def test_resize_connector_target_size_and_fixed_size():
    x = torch.arange(4.).view(1, 1, 2, 2)
    conn = MODELS.build(dict(type='mmkd.ResizeConnector'))
    # bilinear, align_corners=False, 2x upsampling of [[0, 1], [2, 3]]
    y = conn(x, target_size=torch.Size([4, 4]))
    assert torch.allclose(y[0, 0, 0], torch.tensor([0., .25, .75, 1.]))
    assert torch.allclose(y[0, 0, :, 0], torch.tensor([0., .5, 1.5, 2.]))
    assert conn(x, target_size=(2, 2)) is x
    fixed = ResizeConnector(size=3, mode='nearest')
    assert fixed(x, target_size=(9, 9)).shape == (1, 1, 3, 3)
    down = ResizeConnector(mode='area')(torch.arange(16.).view(1, 1, 4, 4),
                                        (2, 2))
    assert torch.equal(down[0, 0], torch.tensor([[2.5, 4.5], [10.5, 12.5]]))


def test_resize_connector_errors():
    with pytest.raises(ValueError, match='no size'):
        ResizeConnector()(torch.randn(1, 1, 2, 2))
    with pytest.raises(ValueError, match='mode'):
        ResizeConnector(mode='trilinear')
    with pytest.raises(ValueError, match='size'):
        ResizeConnector(size=(2, 0))


def test_connector_then_loss_trains_student_side():
    """FitNets: a connector aligns channels, the loss gets gradients into
    both the connector and the student feature."""
    torch.manual_seed(0)
    conn = ConvConnector(3, 5)
    s = torch.randn(2, 3, 4, 4, requires_grad=True)
    t = torch.randn(2, 5, 4, 4)
    FeatureMSELoss()(conn(s), t).backward()
    assert float(s.grad.abs().sum()) > 0
    assert float(conn.conv.weight.grad.abs().sum()) > 0
