# Copyright (c) mmkd contributors. All rights reserved.
"""Alignment of heterogeneous pairs: tokens to maps (against a hand
computation and against mmseg's own ViT / MiT reshapes), connector chains
(against interpolation + conv by hand), the teacher-side connector of a
distill entry, and the messages of features that do not line up."""
import pytest
import torch
import torch.nn.functional as F

from mmkd.models.connectors import ConnectorChain, TokensToMap, alignment_hint
from mmkd.models.distillers.distill_entry import DistillEntry

PKD = dict(type='mmkd.PKDLoss')


def test_tokens_to_map_by_hand():
    tokens = torch.arange(2 * 7 * 3, dtype=torch.float32).view(2, 7, 3)
    out = TokensToMap(num_extra_tokens=1, grid=(2, 3))(tokens)
    assert out.shape == (2, 3, 2, 3)
    for b in range(2):
        for c in range(3):
            for i in range(2):
                for j in range(3):
                    assert out[b, c, i, j] == tokens[b, 1 + i * 3 + j, c]


def test_tokens_to_map_grid_inference():
    square = TokensToMap()
    assert square.grid_for(16) == (4, 4)
    assert TokensToMap(num_extra_tokens=1).grid_for(17) == (4, 4)
    assert TokensToMap(aspect_ratio=2).grid_for(32) == (4, 8)
    # the other side's map gives the aspect (stride 32 of a 100 x 150 image
    # against stride 8: 4 x 5 tokens, 13 x 19 map)
    assert square.grid_for(20, target_size=(13, 19)) == (4, 5)
    assert square.grid_for(8, target_size=(8, 16)) == (2, 4)
    assert TokensToMap(grid=(3, 5)).grid_for(15, (8, 8)) == (3, 5)


@pytest.mark.parametrize('connector, tokens, target, message', [
    (TokensToMap(), 12, None, 'not a square grid'),
    (TokensToMap(grid=(3, 3)), 10, None, 'has 9 cells'),
    (TokensToMap(aspect_ratio=2), 20, None, 'aspect_ratio=2'),
    (TokensToMap(), 7, (8, 8), 'closest: 1 x 7'),
    (TokensToMap(num_extra_tokens=2), 2, None, 'no grid cells left'),
])
def test_tokens_that_form_no_grid(connector, tokens, target, message):
    with pytest.raises(ValueError, match=message) as err:
        connector(torch.zeros(1, tokens, 4), target_size=target)
    assert 'num_extra_tokens' in str(err.value) or 'cells left' in message


def test_tokens_to_map_refuses_maps_and_bad_options():
    with pytest.raises(ValueError, match='remove the TokensToMap'):
        TokensToMap()(torch.zeros(1, 4, 2, 2))
    for kwargs in (dict(num_extra_tokens=-1), dict(grid=(0, 2)),
                   dict(aspect_ratio=0)):
        with pytest.raises(ValueError, match='TokensToMap'):
            TokensToMap(**kwargs)


def test_tokens_to_map_is_mmseg_mit_reshape():
    """MiT's stage norm gives tokens; its forward reshapes them into the
    stage's output map: TokensToMap of the recorded tokens is that map."""
    from mmseg.models.backbones import MixVisionTransformer
    torch.manual_seed(0)
    mit = MixVisionTransformer(embed_dims=8, num_layers=[1, 1, 1, 1],
                               num_heads=[1, 1, 2, 2]).eval()
    recorded = {}
    for i in range(4):
        mit.layers[i][2].register_forward_hook(
            lambda m, a, out, i=i: recorded.__setitem__(i, out))
    x = torch.randn(2, 3, 64, 128)
    with torch.no_grad():
        maps = mit(x)
    for i in range(4):
        assert recorded[i].dim() == 3
        # the grid from the other side's map (here: the same map's size)
        got = TokensToMap()(recorded[i], target_size=maps[i].shape[2:])
        assert torch.equal(got, maps[i])


def test_tokens_to_map_is_mmseg_vit_reshape_with_class_token():
    from mmseg.models.backbones import VisionTransformer
    torch.manual_seed(0)
    vit = VisionTransformer(
        img_size=(32, 32), patch_size=8, embed_dims=16, num_layers=2,
        num_heads=2, out_indices=(1, ), with_cls_token=True, final_norm=False)
    vit.eval()  # (mmseg's ViT.train returns None)
    recorded = []
    vit.layers[1].register_forward_hook(lambda m, a, out: recorded.append(out))
    with torch.no_grad():
        (out, ) = vit(torch.randn(2, 3, 32, 32))
    assert recorded[0].shape == (2, 1 + 16, 16)
    assert torch.equal(TokensToMap(num_extra_tokens=1)(recorded[0]), out)


def test_connector_chain_is_resize_then_conv():
    torch.manual_seed(0)
    chain = ConnectorChain([
        dict(type='mmkd.ResizeConnector'),
        dict(type='mmkd.ConvConnector', in_channels=4, out_channels=6,
             norm_cfg=None)
    ])
    x = torch.randn(2, 4, 5, 7)
    out = chain(x, target_size=(10, 14))
    conv = chain.connectors[1].conv
    up = F.interpolate(x, size=(10, 14), mode='bilinear', align_corners=False)
    ref = torch.einsum('oc,bchw->bohw', conv.weight[:, :, 0, 0], up) + \
        conv.bias.view(1, 6, 1, 1)
    assert torch.allclose(out, ref, atol=1e-5)


def test_connector_chain_bad_configs():
    with pytest.raises(ValueError, match='non-empty list'):
        ConnectorChain([])
    with pytest.raises(TypeError, match='not a connector'):
        ConnectorChain([dict(type='mmkd.PKDLoss')])


@pytest.mark.parametrize('student, teacher, expected', [
    ((2, 64, 8, 8), (2, 96, 8, 8), "connector=dict(type='mmkd.ConvConnector"
     "', in_channels=64, out_channels=96)"),
    ((2, 64, 8, 8),
     (2, 64, 16, 16), "connector=dict(type='mmkd.ResizeConnector')"),
    ((2, 64, 8, 8), (2, 96, 16, 16),
     "connector=dict(type='mmkd.ConnectorChain', connectors=[dict(type="
     "'mmkd.ResizeConnector'), dict(type='mmkd.ConvConnector', "
     'in_channels=64, out_channels=96)])'),
    ((2, 64, 8, 8), (2, 50, 96),
     "teacher_connector=dict(type='mmkd.TokensToMap', num_extra_tokens=1), "
     "connector=dict("
     "type='mmkd.ConnectorChain', connectors=[dict(type='mmkd."
     "ResizeConnector'), dict(type='mmkd.ConvConnector', in_channels=64, "
     'out_channels=96)])'),
    ((2, 4), (2, 6), "connector=dict(type='mmkd.LinearConnector', "
     'in_features=4, out_features=6)'),
    ((2, 4), (2, 6, 3, 3), 'no connector maps B x D vectors'),
    ((2, 4, 3, 3), (4, 4, 3, 3), 'the batch sizes differ'),
])
def test_alignment_hint(student, teacher, expected):
    assert alignment_hint(student, teacher).startswith(expected)


def entry(**cfg):
    return DistillEntry(
        dict(dict(student='s', teacher='t', loss=PKD), **cfg), 0)


def test_teacher_connector_resizes_the_teacher_to_the_student():
    torch.manual_seed(0)
    e = entry(teacher_connector=dict(type='mmkd.ResizeConnector', mode='area'))
    s, t = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 8, 8)
    s_out, t_out = e.align(s, t, 0)
    assert s_out is s
    assert torch.allclose(t_out, F.avg_pool2d(t, 2), atol=1e-6)


def test_tokens_teacher_and_a_chain_student_line_up():
    torch.manual_seed(0)
    e = entry(
        teacher_connector=dict(type='mmkd.TokensToMap'), connector=dict(
            type='mmkd.ConnectorChain', connectors=[
                dict(type='mmkd.ResizeConnector'),
                dict(type='mmkd.ConvConnector', in_channels=3, out_channels=5)
            ]))
    s, t = torch.randn(2, 3, 8, 16), torch.randn(2, 8, 5)  # 2 x 4 grid
    s_out, t_out = e.align(s, t, 0)
    assert t_out.shape == s_out.shape == (2, 5, 2, 4)
    assert torch.equal(t_out, TokensToMap(grid=(2, 4))(t))
    loss = e.level_loss(s, t, 0)
    assert loss.dim() == 0 and torch.isfinite(loss)


def test_misaligned_entry_names_shapes_and_the_fix():
    e = entry(connector=dict(type='mmkd.ResizeConnector'))
    with pytest.raises(ValueError) as err:
        e.level_loss(torch.randn(2, 3, 4, 4), torch.randn(2, 5, 8, 8), 1)
    text = str(err.value)
    assert "distill entry 's-t', level 1" in text
    assert 'student feature (2, 3, 4, 4)' in text
    assert 'teacher feature (2, 5, 8, 8)' in text
    assert 'after its connector: student (2, 3, 8, 8)' in text
    assert "in_channels=3, out_channels=5" in text


def test_teacher_connector_with_parameters_is_refused():
    with pytest.raises(ValueError, match='the teacher is never trained'):
        entry(
            teacher_connector=dict(type='mmkd.ConvConnector', in_channels=3,
                                   out_channels=5))
