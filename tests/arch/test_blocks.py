"""Blocks: MDConv channel splits, SE conventions, residuals, padding, activations, drop path."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nas_service.arch import (
    MixedConv2d,
    SqueezeExcite,
    build_model,
    get_preset,
    resolved_blocks,
    se_reduce_channels,
    split_channels,
)
from nas_service.arch.blocks import DepthwiseSeparable, DropPath, InvertedResidual, create_act, create_conv


def _block(model: nn.Module, stage: int, index: int) -> nn.Module:
    stages = model.blocks
    assert isinstance(stages, nn.Sequential)
    stage_seq = stages[stage]
    assert isinstance(stage_seq, nn.Sequential)
    return stage_seq[index]


@pytest.mark.parametrize(
    ("channels", "groups", "exponential", "expected"),
    [
        (32, 1, False, [32]),
        (32, 4, False, [8, 8, 8, 8]),
        (30, 4, False, [9, 7, 7, 7]),  # remainder to the first group (timm / TF MixNet)
        (240, 3, False, [80, 80, 80]),
        (200, 3, False, [68, 66, 66]),
        (32, 4, True, [16, 8, 4, 4]),  # MixConv paper: 1/2, 1/4, 1/8, rest
        (30, 3, True, [15, 7, 8]),
        (32, 1, True, [32]),
    ],
)
def test_split_channels(channels: int, groups: int, exponential: bool, expected: list[int]) -> None:
    assert split_channels(channels, groups, exponential) == expected
    assert sum(expected) == channels


def test_split_channels_refuses_empty_groups() -> None:
    with pytest.raises(ValueError, match="cannot split"):
        split_channels(3, 4)
    with pytest.raises(ValueError, match="exponential"):
        split_channels(6, 4, exponential=True)


@pytest.mark.parametrize("exponential", [False, True])
def test_mixed_depthwise_conv(exponential: bool) -> None:
    conv = MixedConv2d(32, 32, [3, 5, 7, 9], stride=2, depthwise=True, exponential=exponential)
    sizes = [16, 8, 4, 4] if exponential else [8, 8, 8, 8]
    assert conv.in_splits == sizes and conv.out_splits == sizes
    for c, k, n in zip(conv.convs, [3, 5, 7, 9], sizes, strict=True):
        assert isinstance(c, nn.Conv2d)
        assert c.kernel_size == (k, k) and c.groups == n and c.in_channels == n and c.bias is None
    assert conv(torch.randn(2, 32, 15, 15)).shape == (2, 32, 8, 8)


def test_grouped_pointwise_conv() -> None:
    conv = create_conv(40, 240, [1, 1])
    assert isinstance(conv, MixedConv2d)
    assert [(c.in_channels, c.out_channels, c.groups) for c in conv.convs] == [(20, 120, 1), (20, 120, 1)]
    assert sum(p.numel() for p in conv.parameters()) == 2 * 20 * 120
    assert conv(torch.randn(1, 40, 4, 4)).shape == (1, 240, 4, 4)
    plain = create_conv(40, 240, [3])
    assert isinstance(plain, nn.Conv2d) and plain.padding == (1, 1)


def test_mixed_depthwise_needs_equal_widths() -> None:
    with pytest.raises(ValueError):
        MixedConv2d(16, 32, [3, 5], depthwise=True)


@pytest.mark.parametrize(
    ("mid", "expansion", "ratio", "from_expanded", "expected"),
    [
        (96, 6, 0.25, False, 4),  # EfficientNet-B0 stage 1: 16 in * 0.25
        (32, 1, 0.25, False, 8),  # B0 stage 0 (ds): 32 in * 0.25
        (240, 6, 0.5, False, 20),  # MixNet 40 in * 0.5
        (360, 3, 0.5, False, 60),  # MixNet 120 in * 0.5 with float noise in 0.5 / 3
        (72, 3, 0.25, True, 24),  # MobileNetV3-L: make_divisible(18) = 24
        (120, 3, 0.25, True, 32),  # make_divisible(30)
        (16, 1, 0.25, True, 8),  # MobileNetV3-S ds block: make_divisible(4) = 8
        (672, 6, 0.25, True, 168),
    ],
)
def test_se_conventions(mid: int, expansion: float, ratio: float, from_expanded: bool, expected: int) -> None:
    assert se_reduce_channels(mid, expansion, ratio, from_expanded) == expected
    se = SqueezeExcite.from_ratio(mid, ratio, expansion, from_expanded)
    assert se.conv_reduce.out_channels == expected and se.conv_expand.in_channels == expected
    assert se.conv_reduce.bias is not None and se.conv_expand.bias is not None


def test_se_in_built_models() -> None:
    b0 = build_model(get_preset("efficientnet_b0", num_classes=10))
    first_ir = _block(b0, 1, 0)
    assert isinstance(first_ir, InvertedResidual) and isinstance(first_ir.se, SqueezeExcite)
    assert first_ir.se.conv_reduce.in_channels == 96 and first_ir.se.conv_reduce.out_channels == 4
    assert isinstance(first_ir.se.gate, nn.Sigmoid) and isinstance(first_ir.se.act, nn.SiLU)

    mnv3 = build_model(get_preset("mobilenetv3_large_100", num_classes=10))
    blk = _block(mnv3, 2, 0)
    assert isinstance(blk, InvertedResidual) and isinstance(blk.se, SqueezeExcite)
    assert (blk.se.conv_reduce.in_channels, blk.se.conv_reduce.out_channels) == (72, 24)
    assert isinstance(blk.se.gate, nn.Hardsigmoid) and isinstance(blk.se.act, nn.ReLU)
    hs_block = _block(mnv3, 3, 0)
    assert isinstance(hs_block, InvertedResidual) and isinstance(hs_block.bn1.act, nn.Hardswish)

    small = build_model(get_preset("mobilenetv3_small_100", num_classes=10))
    ds = _block(small, 0, 0)
    assert isinstance(ds, DepthwiseSeparable) and isinstance(ds.se, SqueezeExcite)
    assert ds.se.conv_reduce.out_channels == 8


def test_resolved_widths_mobilenetv3() -> None:
    blocks = resolved_blocks(get_preset("mobilenetv3_large_100"))
    assert [b.mid_channels for b in blocks if b.type == "ir"][6:9] == [200, 184, 184]  # e2.5, e2.3 on 80
    small = resolved_blocks(get_preset("mobilenetv3_small_100"))
    assert [b.mid_channels for b in small[1:3]] == [72, 88]  # e4.5 on 16, e3.67 on 24


def test_residuals() -> None:
    blocks = resolved_blocks(get_preset("mnasnet_b1"))
    assert not blocks[0].has_skip  # noskip
    assert [b.has_skip for b in blocks[1:4]] == [False, True, True]
    assert not blocks[-1].has_skip  # noskip, and 192 -> 320
    model = build_model(get_preset("mnasnet_b1", num_classes=10))
    assert _block(model, 1, 1).has_skip and not _block(model, 1, 0).has_skip
    mnv3 = resolved_blocks(get_preset("mobilenetv3_large_100"))
    assert mnv3[-1].type == "cn" and not mnv3[-1].has_skip


def test_inverted_residual_shapes_and_skip() -> None:
    blk = InvertedResidual(16, 96, 16, kernel_sizes=(3, 5), act="swish", se_channels=4, drop_path=0.5)
    assert blk.has_skip
    x = torch.randn(2, 16, 9, 9)
    blk.eval()
    assert blk(x).shape == x.shape
    strided = InvertedResidual(16, 96, 24, kernel_sizes=(5,), stride=2, dilation=1)
    assert not strided.has_skip and strided(x).shape == (2, 24, 5, 5)
    dilated = DepthwiseSeparable(16, 16, kernel_sizes=(3,), dilation=2)
    assert dilated(x).shape == x.shape and dilated.conv_dw.padding == (2, 2)


def test_drop_path() -> None:
    dp = DropPath(0.5)
    x = torch.ones(64, 3, 2, 2)
    dp.eval()
    assert torch.equal(dp(x), x)
    dp.train()
    torch.manual_seed(0)
    y = dp(x)
    per_sample = y.flatten(1)
    assert set(per_sample[:, 0].tolist()) <= {0.0, 2.0}
    assert (per_sample == per_sample[:, :1]).all()  # whole samples are dropped or kept
    assert torch.equal(DropPath(0.0).train()(x), x)


def test_drop_path_rates_grow_linearly() -> None:
    blocks = resolved_blocks(get_preset("efficientnet_b0", drop_path=0.2))
    rates = [b.drop_path for b in blocks]
    assert rates[0] == 0.0 and rates == sorted(rates) and rates[-1] == pytest.approx(0.2 * 15 / 16)


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("relu", nn.ReLU),
        ("relu6", nn.ReLU6),
        ("swish", nn.SiLU),
        ("hard_swish", nn.Hardswish),
        ("hard_sigmoid", nn.Hardsigmoid),
        ("gelu", nn.GELU),
        ("mish", nn.Mish),
        ("sigmoid", nn.Sigmoid),
        ("identity", nn.Identity),
    ],
)
def test_activations(name: str, cls: type[nn.Module]) -> None:
    assert isinstance(create_act(name), cls)


def test_unknown_activation() -> None:
    with pytest.raises(ValueError, match="unknown activation"):
        create_act("tanhish")


def test_weight_init() -> None:
    model = build_model(get_preset("mnasnet_b1", num_classes=10))
    stem = model.conv_stem.weight
    assert stem.std().item() == pytest.approx((2.0 / (9 * 32)) ** 0.5, rel=0.25)
    bound = 1.0 / 10**0.5
    assert model.classifier.weight.abs().max().item() <= bound
    assert torch.count_nonzero(model.classifier.bias) == 0
    bn = model.bn1.bn
    assert torch.all(bn.weight == 1) and torch.all(bn.bias == 0)
