# Copyright (c) mmkd contributors. All rights reserved.
"""A prepacked convolution computes what ``F.conv2d`` computes with its
weights, takes the packed path only where it applies, and survives weight
loads, copies and pickling."""
import copy
import io

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mmkd.models.teacher.bn_folding import fold_batchnorm
from mmkd.models.teacher.conv_prepacking import (MAX_SIZE_CHANGES,
                                                 prepack_conv_weights)

CL = torch.channels_last
CONVS = [  # (in, out, kernel, stride, padding, dilation, groups, bias)
    (16, 32, 3, 1, 1, 1, 1, True),
    (32, 64, 1, 2, 0, 1, 1, False),
    (32, 32, 3, 1, 2, 2, 1, True),  # dilated, as mmseg's d8 ResNets
    (64, 64, 3, 2, 1, 1, 8, False),  # grouped, as a ResNeXt
]


def _rel(a, b) -> float:
    return ((a - b).norm() / b.norm()).item()


def _conv(spec) -> nn.Conv2d:
    cin, cout, k, s, p, d, g, bias = spec
    torch.manual_seed(0)
    conv = nn.Conv2d(cin, cout, k, s, p, d, g, bias=bias).eval()
    conv.to(memory_format=CL)
    assert prepack_conv_weights(conv) == 1
    return conv


def _by_hand(conv, x, weight=None):
    weight = conv.weight if weight is None else weight
    return F.conv2d(x.contiguous(), weight.contiguous(), conv.bias,
                    conv.stride, conv.padding, conv.dilation, conv.groups)


@pytest.mark.parametrize('spec', CONVS)
def test_prepacked_conv_equals_f_conv2d_on_several_sizes(spec):
    conv = _conv(spec)
    torch.manual_seed(1)
    with torch.no_grad():
        # packed for each size in turn (up to MAX_SIZE_CHANGES changes)
        for hw in ((16, 16), (16, 16), (24, 12), (9, 31)):
            x = torch.randn(2, spec[0], *hw).contiguous(memory_format=CL)
            got = conv(x)
            packed = conv.packed_weight
            assert packed.packed is not None  # the packed path
            assert packed.shape == tuple(x.shape)
            assert got.shape == _by_hand(conv, x).shape
            assert _rel(got, _by_hand(conv, x)) <= 1e-5


def test_a_conv_whose_input_size_keeps_changing_stops_packing():
    conv = _conv(CONVS[0])
    torch.manual_seed(1)
    sizes = [(8 + i, 12) for i in range(MAX_SIZE_CHANGES + 3)]
    with torch.no_grad():
        for i, hw in enumerate(sizes):
            x = torch.randn(2, 16, *hw).contiguous(memory_format=CL)
            assert _rel(conv(x), _by_hand(conv, x)) <= 1e-5
            # the first size and MAX_SIZE_CHANGES changes were packed
            assert conv.packed_weight.gave_up == (i > MAX_SIZE_CHANGES)
            assert (conv.packed_weight.packed is None) == (
                i > MAX_SIZE_CHANGES)


def test_the_packed_path_only_where_it_applies():
    conv = _conv(CONVS[0])
    x = torch.randn(2, 16, 12, 12)
    with torch.no_grad():  # an NCHW input: measured slower packed
        # the plain convolution of a channels-last weight: another kernel
        # than the by-hand one (contiguous weight), so equal within rounding
        assert _rel(conv(x), _by_hand(conv, x)) <= 1e-5
    assert conv.packed_weight.packed is None  # nothing was packed for it
    x_cl = x.contiguous(memory_format=CL)
    y = conv(x_cl)  # autograd on: the plain convolution (it has a grad)
    assert y.grad_fn is not None
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        assert conv(x_cl).dtype == torch.bfloat16  # autocast's own conv
    assert conv.packed_weight.packed is None
    with torch.no_grad():
        conv(x_cl)
    assert conv.packed_weight.packed is not None


def test_a_weight_loaded_after_packing_is_packed_again():
    conv = _conv(CONVS[0])
    x = torch.randn(2, 16, 12, 12).contiguous(memory_format=CL)
    new = torch.randn_like(conv.weight)
    with torch.no_grad():
        conv(x)
        conv.load_state_dict(dict(conv.state_dict(), weight=new))
        assert _rel(conv(x), _by_hand(conv, x, new)) <= 1e-5


def test_a_folded_conv_packs_the_folded_weight():
    torch.manual_seed(0)
    block = nn.Sequential(
        nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16)).eval()
    with torch.no_grad():
        bn = block[1]
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    x = torch.randn(2, 8, 10, 10)
    with torch.no_grad():
        conv = block[0]  # by hand: the convolution, then the BatchNorm
        want = F.batch_norm(
            F.conv2d(x, conv.weight, None, 1, 1), bn.running_mean,
            bn.running_var, bn.weight, bn.bias, False, 0., bn.eps)
        assert fold_batchnorm(block) == 1
        block.to(memory_format=CL)
        assert prepack_conv_weights(block) == 1
        got = block(x.contiguous(memory_format=CL))
    assert block[0].packed_weight.packed is not None
    assert _rel(got, want) <= 1e-5
    buf = io.BytesIO()  # the folded, packed block copies and pickles
    torch.save(block, buf)
    buf.seek(0)
    for other in (copy.deepcopy(block), torch.load(buf, weights_only=False)):
        with torch.no_grad():
            assert torch.equal(other(x.contiguous(memory_format=CL)), got)


def test_copies_and_pickles_pack_again_and_keep_the_state():
    conv = _conv(CONVS[1])
    keys = set(nn.Conv2d(32, 64, 1, bias=False).state_dict())
    assert set(conv.state_dict()) == keys  # nothing packed is saved
    x = torch.randn(2, 32, 8, 8).contiguous(memory_format=CL)
    with torch.no_grad():
        want = conv(x)  # packed now
        copied = copy.deepcopy(conv)  # an opaque packed tensor can't be
        buf = io.BytesIO()
        torch.save(conv, buf)
        buf.seek(0)
        loaded = torch.load(buf, weights_only=False)
        for other in (copied, loaded):
            assert other.packed_weight.packed is None
            assert torch.equal(other(x), want)
            assert other.packed_weight.packed is not None
