"""Scaling rules: make_divisible, round_channels, per-stage depth scaling, compound scaling tables."""

from __future__ import annotations

import math

import pytest

from nas_service.arch import (
    EFFICIENTDET_PARAMS,
    EFFICIENTNET_PARAMS,
    compound_multipliers,
    flops_factor,
    get_preset,
    make_divisible,
    resolved_blocks,
    round_channels,
    scale_architecture,
    scale_stage_depth,
)


@pytest.mark.parametrize(
    ("v", "divisor", "expected"),
    [
        (32, 8, 32),
        (35.2, 8, 32),  # 32 >= 0.9 * 35.2
        (36, 8, 40),  # rounds half up
        (18, 8, 24),  # 16 < 0.9 * 18 -> one more divisor (MobileNetV3 SE width)
        (88.08, 8, 88),  # 24 * 3.67 (MobileNetV3-Small)
        (3, 8, 8),  # never below the divisor
        (1280 * 1.1, 8, 1408),
        (1280 * 1.8, 8, 2304),
        (24 * 1.3, 8, 32),  # MixNet-L stem
        (10, 4, 12),
        (37.5, 16, 48),  # 32 < 0.9 * 37.5
    ],
)
def test_make_divisible(v: float, divisor: int, expected: int) -> None:
    assert make_divisible(v, divisor) == expected
    assert make_divisible(v, divisor) % divisor == 0
    assert make_divisible(v, divisor) >= 0.9 * v


def test_make_divisible_min_and_limit() -> None:
    assert make_divisible(3, 8, min_value=16) == 16
    assert make_divisible(18, 8, round_limit=0.0) == 16


@pytest.mark.parametrize(
    ("ch", "mult", "expected"),
    [(32, 1.0, 32), (32, 1.1, 32), (16, 1.1, 16), (40, 1.4, 56), (112, 1.2, 136), (320, 2.0, 640), (7, 0, 7)],
)
def test_round_channels(ch: int, mult: float, expected: int) -> None:
    assert round_channels(ch, mult) == expected


@pytest.mark.parametrize(
    ("repeats", "mult", "trunc", "expected"),
    [
        ([1], 1.0, "ceil", [1]),
        ([2], 1.1, "ceil", [3]),
        ([4], 3.1, "ceil", [13]),
        ([1, 3], 1.0, "round", [1, 3]),
        ([1, 3], 1.2, "round", [1, 4]),  # extra depth goes to the last block string first
        ([1, 1], 1.3, "round", [1, 2]),
        ([1, 1], 1.2, "round", [1, 1]),
        ([1, 1, 2], 2.0, "ceil", [2, 2, 4]),
        ([1, 2], 0.5, "ceil", [1, 1]),  # never below one repeat
    ],
)
def test_scale_stage_depth(repeats: list[int], mult: float, trunc: str, expected: list[int]) -> None:
    assert scale_stage_depth(repeats, mult, trunc) == expected  # type: ignore[arg-type]


def test_scale_stage_depth_rejects() -> None:
    with pytest.raises(ValueError):
        scale_stage_depth([], 1.0)
    with pytest.raises(ValueError):
        scale_stage_depth([1], 1.0, "floor")  # type: ignore[arg-type]


def _stage_repeats(name: str) -> list[int]:
    blocks = resolved_blocks(get_preset(name))
    counts = [0] * (1 + blocks[-1].stage)
    for b in blocks:
        counts[b.stage] += 1
    return counts


def test_efficientnet_depths() -> None:
    assert _stage_repeats("efficientnet_b0") == [1, 2, 2, 3, 3, 4, 1]
    assert _stage_repeats("efficientnet_b3") == [2, 3, 3, 5, 5, 6, 2]
    assert _stage_repeats("efficientnet_b7") == [4, 7, 7, 10, 10, 13, 4]
    assert len(resolved_blocks(get_preset("efficientnet_b7"))) == 55


def test_efficientnet_table() -> None:
    assert list(EFFICIENTNET_PARAMS) == [f"b{i}" for i in range(8)]
    assert tuple(EFFICIENTNET_PARAMS["b0"]) == (1.0, 1.0, 224, 0.2)
    assert tuple(EFFICIENTNET_PARAMS["b4"]) == (1.4, 1.8, 380, 0.4)
    assert tuple(EFFICIENTNET_PARAMS["b7"]) == (2.0, 3.1, 600, 0.5)


def test_efficientdet_table() -> None:
    d = EFFICIENTDET_PARAMS
    assert [p.input_size for p in d.values()] == [512, 640, 768, 896, 1024, 1280, 1280, 1536]
    assert [p.bifpn_width for p in d.values()] == [64, 88, 112, 160, 224, 288, 384, 384]
    assert [p.bifpn_depth for p in d.values()] == [3, 4, 5, 6, 7, 7, 8, 8]
    assert [p.head_depth for p in d.values()] == [3, 3, 3, 4, 4, 4, 5, 5]
    assert d["d0"].backbone == "efficientnet_b0" and d["d7"].backbone == "efficientnet_b6"


def test_compound_multipliers() -> None:
    m = compound_multipliers(1.2, 1.1, 1.15, 2)
    assert (
        m.depth == pytest.approx(1.44) and m.width == pytest.approx(1.21) and m.resolution_factor == 1.15**2
    )
    assert compound_multipliers(1.2, 1.1, 1.15, 0) == (1.0, 1.0, 1.0)
    assert flops_factor(1.2, 1.1, 1.15) == pytest.approx(1.2 * 1.21 * 1.3225)
    assert math.isclose(flops_factor(1.2, 1.1, 1.15), 1.92, abs_tol=0.01)


def test_scale_architecture() -> None:
    b0 = get_preset("efficientnet_b0")
    b1ish = scale_architecture(b0, 1.0)
    assert b1ish.depth_multiplier == 1.2 and b1ish.width_multiplier == 1.1
    assert b1ish.resolution == 256  # 224 * 1.15 = 257.6 -> nearest multiple of 8
    assert b1ish.resolution % 8 == 0
    assert b1ish.stages == b0.stages and b0.resolution == 224  # a new object, the input is untouched
    same = scale_architecture(b0, 0.0)
    assert same.model_dump() == b0.model_dump()
    assert scale_architecture(b0, 1.0, base_resolution=32).resolution == 40
