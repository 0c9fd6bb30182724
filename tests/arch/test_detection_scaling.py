"""Detection compound scaling: the D-table rule and the paper's formulas for a base of your own."""

from __future__ import annotations

import pytest

from nas_service.arch import get_detection_preset, get_preset, profile_detection
from nas_service.arch.detection_scaling import (
    detection_scaling_table,
    efficientdet_for_phi,
    scale_backbone,
    scale_detection,
)


def test_table_rule_is_the_presets() -> None:
    rows = detection_scaling_table(list(range(8)))
    assert [r.name for r in rows] == [f"efficientdet_d{i}" for i in range(8)]
    assert [r.fpn_channels for r in rows] == [64, 88, 112, 160, 224, 288, 384, 384]
    assert [r.resolution for r in rows] == [512, 640, 768, 896, 1024, 1280, 1280, 1536]
    assert rows[0].params == 3_880_067 and rows[6].params == rows[7].params
    assert all(a.macs < b.macs for a, b in zip(rows, rows[1:], strict=False))
    assert efficientdet_for_phi(2, num_classes=5).num_classes == 5
    with pytest.raises(ValueError, match="phi: the D-table covers 0..7"):
        efficientdet_for_phi(8)


def test_formula_rule_from_d0() -> None:
    d0 = get_detection_preset("efficientdet_d0")
    rows = {r.phi: r for r in detection_scaling_table([0, 1, 2, 3, 4, 6], "formula", d0)}
    assert [rows[p].fpn_channels for p in (1, 2, 3, 4, 6)] == [88, 120, 160, 216, 384]  # 64 * 1.35**phi, /8
    assert [rows[p].fpn_repeats for p in (1, 2, 3)] == [4, 5, 6]
    assert [rows[p].head_repeats for p in (1, 2, 3, 6)] == [3, 3, 4, 5]
    assert [rows[p].resolution for p in (1, 2, 3)] == [640, 768, 896]  # 512 + 128 phi
    # Where the hand-rounded table agrees with the formula, the networks are the reference ones.
    assert rows[0].params == 3_880_067
    assert rows[1].params == profile_detection(get_detection_preset("efficientdet_d1")).params
    assert rows[3].params == profile_detection(get_detection_preset("efficientdet_d3")).params


def test_formula_on_a_small_base() -> None:
    base = get_detection_preset("efficientdet_d0", resolution=128, fpn_channels=16, fpn_repeats=1, head_repeats=1)
    s = scale_detection(base, 2)
    assert (s.fpn_channels, s.fpn_repeats, s.head_repeats, s.resolution) == (32, 3, 1, 256)
    assert s.resolution % 2**s.max_level == 0
    with pytest.raises(ValueError, match="phi"):
        scale_detection(base, -1)
    with pytest.raises(ValueError, match="base"):
        detection_scaling_table([1], "formula")


def test_backbone_scaling() -> None:
    b0 = get_preset("efficientnet_b0")
    assert scale_backbone(b0, 0) is b0
    b4 = scale_backbone(b0, 4)
    assert b4.name == "efficientnet_b4"
    assert (b4.width_multiplier, b4.depth_multiplier) == (1.4, 1.8)
    beyond = scale_backbone(b0, 8)
    assert beyond.width_multiplier == pytest.approx(1.1**8, rel=1e-5)
