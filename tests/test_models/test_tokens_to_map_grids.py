# Copyright (c) mmkd contributors. All rights reserved.
"""TokensToMap accepts a grid only when it is the input's: the target map's
grid scaled by one factor (each side within one cell of rounding), or the
grid of the input's aspect ratio; a plausible wrong factorisation is
refused with the number of leading tokens that fixes it, ties go to the
target's orientation, and the alignment hint says the same."""
import math

import pytest
import torch

from mmkd.models.connectors import TokensToMap, alignment_hint

IMAGE = (800, 1333)  # mmdet's COCO test scale


def test_class_token_plus_grid_is_refused_not_scrambled():
    """1 class token + 40 x 80 cells = 3,201 tokens = 33 x 97: within a
    factor 1.5 of the aspect 2, but no 40 x 80 map scaled by one factor."""
    tokens = torch.randn(2, 1 + 40 * 80, 4)
    for target in ((40, 80), (80, 160), (20, 40)):
        with pytest.raises(ValueError) as err:
            TokensToMap()(tokens, target_size=target)
        text = str(err.value)
        assert '3201 grid tokens' in text and 'closest: 33 x 97' in text
        assert 'num_extra_tokens=1' in text
        assert '3201 - 1 = 3200 tokens form a 40 x 80 grid' in text
    fixed = TokensToMap(num_extra_tokens=1)(tokens, target_size=(80, 160))
    torch.testing.assert_close(
        fixed, tokens[:, 1:].reshape(2, 40, 80, 4).permute(0, 3, 1, 2), rtol=0,
        atol=0)


def test_mmseg_vit_with_class_token_against_a_student_map():
    """A real mmseg ViT on a 256 x 512 image: 1 + 16 x 32 = 513 tokens
    (= 19 x 27); against a stride-8 student map (32 x 64) the grid is
    refused and ``num_extra_tokens=1`` named, which then gives exactly the
    ViT's own output map."""
    from mmseg.models.backbones import VisionTransformer
    torch.manual_seed(0)
    vit = VisionTransformer(
        img_size=(256, 512), patch_size=16, embed_dims=8, num_layers=1,
        num_heads=1, out_indices=(0, ), with_cls_token=True, final_norm=False)
    vit.eval()  # (mmseg's ViT.train returns None)
    recorded = []
    vit.layers[0].register_forward_hook(lambda m, a, out: recorded.append(out))
    with torch.no_grad():
        (out, ) = vit(torch.randn(1, 3, 256, 512))
    assert recorded[0].shape == (1, 513, 8) and out.shape == (1, 8, 16, 32)
    student_size = (32, 64)
    with pytest.raises(ValueError, match='set num_extra_tokens=1 '):
        TokensToMap()(recorded[0], target_size=student_size)
    got = TokensToMap(num_extra_tokens=1)(recorded[0],
                                          target_size=student_size)
    assert torch.equal(got, out)


@pytest.mark.parametrize(
    'target, expected',
    [
        ((25, 25), (24, 25)),  # square target: landscape
        ((48, 50), (24, 25)),  # the target's orientation
        ((50, 48), (25, 24)),
        ((26, 25), (25, 24)),
    ])
def test_a_grid_and_its_transpose_go_to_the_targets_orientation(
        target, expected):
    tokens = torch.randn(1, 600, 3)
    out = TokensToMap()(tokens, target_size=target)
    assert out.shape[2:] == expected
    torch.testing.assert_close(
        out,
        tokens.reshape(1, *expected, 3).permute(0, 3, 1, 2), rtol=0, atol=0)


def _strided(size, stride, rounding):
    return tuple(rounding(s / stride) for s in size)


@pytest.mark.parametrize('stride', [4, 8, 16, 32])
@pytest.mark.parametrize('rounding', [math.ceil, math.floor])
def test_aspect_ratio_takes_every_strided_grid_of_the_image(stride, rounding):
    """``aspect_ratio=1333/800``: the grid of the 800 x 1333 image at each
    stride, its sides rounded up (padding patch embeddings, stride-2
    convolutions) or down (unpadded patches), e.g. 200 x 334 and 50 x 84,
    and the same with a class token."""
    h, w = _strided(IMAGE, stride, rounding)
    ratio = IMAGE[1] / IMAGE[0]
    assert TokensToMap(aspect_ratio=ratio).grid_for(h * w) == (h, w)
    assert TokensToMap(num_extra_tokens=1,
                       aspect_ratio=ratio).grid_for(1 + h * w) == (h, w)


@pytest.mark.parametrize('token_stride, map_stride', [(16, 8), (32, 4),
                                                      (8, 32), (16, 16)])
def test_target_map_at_another_stride(token_stride, map_stride):
    """Tokens and the other side's map of the same 800 x 1333 image at two
    strides (sides rounded up): the tokens' own grid."""
    grid = _strided(IMAGE, token_stride, math.ceil)
    target = _strided(IMAGE, map_stride, math.ceil)
    assert TokensToMap().grid_for(grid[0] * grid[1], target) == grid


def test_aspect_ratio_refuses_what_is_not_within_one_cell():
    """(W - 1) / (H + 1) < ratio < (W + 1) / (H - 1) is the tolerance: 4 x 8
    = 32 cells are a 2:1 input, 4 x 5 = 20 are not (even 6/3 = 2 is
    outside the open interval); the message gives the closest grid."""
    assert TokensToMap(aspect_ratio=2).grid_for(32) == (4, 8)
    with pytest.raises(ValueError, match=r'closest: 4 x 5'):
        TokensToMap(aspect_ratio=2).grid_for(20)
    with pytest.raises(ValueError, match='finite number > 0'):
        TokensToMap(aspect_ratio=float('inf'))


@pytest.mark.parametrize(
    'connector, tokens, target, extra, grid',
    [
        (TokensToMap(), 1 + 7 * 7, None, 1, '7 x 7'),  # a class token
        (TokensToMap(), 2 + 14 * 14, None, 2, '14 x 14'),  # DeiT's two
        (TokensToMap(grid=(6, 12)), 5 + 72, None, 5, '6 x 12'),  # registers
        (TokensToMap(num_extra_tokens=1), 36, (12, 12), 0, '6 x 6'),
    ])
def test_the_message_names_the_leading_tokens_that_fix_it(
        connector, tokens, target, extra, grid):
    with pytest.raises(ValueError) as err:
        connector(torch.zeros(1, tokens, 2), target_size=target)
    assert (f'tokens form a {grid} grid: set num_extra_tokens={extra} '
            in str(err.value))


def test_no_hint_when_no_leading_tokens_help():
    with pytest.raises(ValueError) as err:
        TokensToMap()(torch.zeros(1, 309, 2), target_size=(40, 80))
    assert 'tokens form a' not in str(err.value)
    assert 'num_extra_tokens=<leading' in str(err.value)


# a ViT teacher with a class token against a 40 x 80 student map: the
# number of leading tokens, and no resize (the grids agree)
VIT_HINT = ("teacher_connector=dict(type='mmkd.TokensToMap', "
            "num_extra_tokens=1), connector=dict(type='mmkd.ConvConnector', "
            'in_channels=64, out_channels=96)')
# a student whose tokens are the teacher map's grid at twice its stride
STRIDE_HINT = ("connector=dict(type='mmkd.ConnectorChain', connectors=["
               "dict(type='mmkd.TokensToMap'), "
               "dict(type='mmkd.ResizeConnector')])")
CONV_HINT = ("connector=dict(type='mmkd.ConvConnector', in_channels=64, "
             'out_channels=96)')


@pytest.mark.parametrize('student, teacher, expected', [
    ((2, 64, 40, 80), (2, 3201, 96), VIT_HINT),
    ((2, 20 * 40, 96), (2, 96, 40, 80), STRIDE_HINT),
    ((2, 64, 8, 8), (2, 96, 8, 8), CONV_HINT),
])
def test_alignment_hint_agrees_with_tokens_to_map(student, teacher, expected):
    hint = alignment_hint(student, teacher)
    assert hint == expected


def test_alignment_hint_for_tokens_of_no_grid():
    hint = alignment_hint((2, 64, 40, 80), (2, 309, 96))
    assert hint.startswith("teacher_connector=dict(type='mmkd.TokensToMap'),")
    assert '309 tokens form no grid of the aspect of the (40, 80) map' in hint
