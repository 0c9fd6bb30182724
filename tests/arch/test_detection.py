"""DetectionArchitecture: JSON round trip, BiFPN topology, backbone levels, and bad input naming the field."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from nas_service.arch import (
    Architecture,
    DetectionArchitecture,
    bifpn_nodes,
    build_detector,
    get_detection_preset,
    get_preset,
    profile_detection,
    resolve_detection,
)
from nas_service.arch.detection import backbone_feature_stages, stage_reductions


def test_bifpn_topology_p3_p7() -> None:
    # Inputs 0..4 are P3..P7; nodes are numbered from 5. Top-down P6..P3, then bottom-up P4..P7.
    nodes = bifpn_nodes(3, 7)
    assert [(n.level, n.inputs) for n in nodes] == [
        (6, (3, 4)),
        (5, (2, 5)),
        (4, (1, 6)),
        (3, (0, 7)),
        (4, (1, 7, 8)),
        (5, (2, 6, 9)),
        (6, (3, 5, 10)),
        (7, (4, 11)),
    ]


def test_bifpn_topology_p3_p8() -> None:
    nodes = bifpn_nodes(3, 8)
    assert len(nodes) == 10
    assert nodes[0] == (7, (4, 5)) and nodes[-1] == (8, (5, 14))
    assert sum(len(n.inputs) for n in nodes) == 2 * 5 + 3 * 4 + 2


def test_json_round_trip_and_hash() -> None:
    spec = get_detection_preset("efficientdet_d1", num_classes=20)
    again = DetectionArchitecture.model_validate_json(spec.model_dump_json())
    assert again == spec and again.arch_hash() == spec.arch_hash()
    renamed = spec.model_copy(update={"name": "other"})
    assert renamed.arch_hash() == spec.arch_hash()
    assert spec.summary_string() == "bifpn_p3.7_c88_r4_fast head_r3_a9_n20"


def test_backbone_by_preset_name_or_block_strings() -> None:
    by_name = DetectionArchitecture(backbone="efficientnet_b0", resolution=256)  # type: ignore[arg-type]
    assert by_name.backbone == get_preset("efficientnet_b0")
    custom = Architecture.from_block_strings(
        [["ds_r1_k3_s1_c16"], ["ir_r1_k3_s2_e6_c24"], ["ir_r1_k5_s2_e6_c40"], ["ir_r1_k3_s2_e6_c80"]],
        name="tiny",
    )
    spec = DetectionArchitecture(
        backbone=custom, min_level=3, max_level=5, backbone_max_level=4, fpn_channels=16, resolution=64
    )
    rd = resolve_detection(spec)
    assert rd.feature_channels == (40, 80) and rd.level_sizes == (8, 4, 2)
    model = build_detector(spec)
    assert sum(p.numel() for p in model.parameters()) == profile_detection(spec).params
    cls_out, _ = model(torch.randn(2, 3, 64, 64))
    assert [o.shape[-1] for o in cls_out] == [8, 4, 2]


def test_backbone_is_truncated_after_the_deepest_level() -> None:
    # MobileNetV3-Large ends with a 960-wide 1x1 conv stage at stride 32: with levels up to P4 it is dropped.
    spec = DetectionArchitecture(
        backbone=get_preset("mobilenetv3_large_100"), max_level=6, backbone_max_level=4, resolution=128
    )
    rd = resolve_detection(spec)
    assert rd.num_backbone_stages == rd.feature_stages[-1] + 1 < len(spec.backbone.stages)
    model = build_detector(spec)
    assert len(model.backbone.blocks) == rd.num_backbone_stages
    assert sum(p.numel() for p in model.parameters()) == profile_detection(spec).params


def test_feature_stages_of_efficientnet() -> None:
    b0 = get_preset("efficientnet_b0")
    assert stage_reductions(b0) == [2, 4, 8, 16, 16, 32, 32]
    assert backbone_feature_stages(b0, 3, 5) == [2, 4, 6]


# --- bad input: each a clear error naming the field ---------------------------------------------------------


def _error(**fields: object) -> str:
    with pytest.raises(ValidationError) as info:
        DetectionArchitecture.model_validate({"backbone": "efficientnet_b0", **fields})
    err = info.value.errors()[0]
    return ".".join(str(p) for p in err["loc"]) + ": " + err["msg"]


def test_backbone_with_too_few_stages() -> None:
    short = Architecture.from_block_strings([["ds_r1_k3_s1_c16"], ["ir_r2_k3_s2_e6_c24"], ["ir_r1_k3_s2_e6_c40"]])
    with pytest.raises(ValidationError) as info:
        DetectionArchitecture(backbone=short)
    msg = str(info.value)
    assert "backbone: no stage ends at stride 16 for feature level P4" in msg
    assert "[2, 4, 8]" in msg


def test_zero_classes() -> None:
    assert _error(num_classes=0).startswith("num_classes: ")


def test_resolution_not_divisible() -> None:
    msg = _error(resolution=500)
    assert msg.startswith("resolution: ") and "not divisible by 2**max_level = 128" in msg and "512" in msg
    assert _error(resolution=640, max_level=8, backbone_max_level=5).startswith("resolution: ")


def test_level_order() -> None:
    assert _error(min_level=4, max_level=3).startswith("max_level: ")
    assert _error(backbone_max_level=8).startswith("backbone_max_level: ")


def test_resolve_at_other_resolution_refuses_indivisible() -> None:
    spec = get_detection_preset("efficientdet_d0")
    with pytest.raises(ValueError, match="resolution 100 is not divisible"):
        resolve_detection(spec, 100)
