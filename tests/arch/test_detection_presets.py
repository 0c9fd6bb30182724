"""EfficientDet presets: exact params (analytic and built), forward + backward with per-level shapes, MACs."""

from __future__ import annotations

import gc

import pytest
import torch
from torch import nn

from nas_service.arch import (
    build_detector,
    get_detection_preset,
    list_detection_presets,
    profile_detection,
)

#: Parameter counts at 90 classes. D0 is the reference implementation's published exact count (effdet
#: ``tf_efficientdet_d0``); the others are counts of the reference structure, each equal to the paper's rounded
#: figure (D1 6.6M, D2 8.1M, D3 12.0M, D4 20.7M, D5 33.7M, D6/D7 51.9M, D7x 77.1M).
EXPECTED_PARAMS: dict[str, int] = {
    "efficientdet_d0": 3_880_067,
    "efficientdet_d1": 6_625_898,
    "efficientdet_d2": 8_097_039,
    "efficientdet_d3": 12_032_296,
    "efficientdet_d4": 20_723_675,
    "efficientdet_d5": 33_653_315,
    "efficientdet_d6": 51_871_782,
    "efficientdet_d7": 51_871_782,
    "efficientdet_d7x": 77_147_166,
}

#: The paper's Table 2 figures in millions, which the exact counts must round to.
PAPER_PARAMS_M: dict[str, float] = {
    "efficientdet_d0": 3.9,
    "efficientdet_d1": 6.6,
    "efficientdet_d2": 8.1,
    "efficientdet_d3": 12.0,
    "efficientdet_d4": 20.7,
    "efficientdet_d5": 33.7,
    "efficientdet_d6": 51.9,
    "efficientdet_d7": 51.9,
    "efficientdet_d7x": 77.1,
}


def test_every_preset_has_an_expected_count() -> None:
    assert list(EXPECTED_PARAMS) == list_detection_presets()


@pytest.mark.parametrize("name", list_detection_presets())
def test_counts_round_to_the_paper(name: str) -> None:
    assert round(EXPECTED_PARAMS[name] / 1e6, 1) == PAPER_PARAMS_M[name]


@pytest.mark.parametrize("name", list_detection_presets())
def test_exact_params(name: str) -> None:
    spec = get_detection_preset(name)
    assert spec.num_classes == 90 and spec.num_anchors == 9
    prof = profile_detection(spec)
    assert prof.params == EXPECTED_PARAMS[name]
    assert sum(c.params for c in prof.parts().values()) == prof.params
    model = build_detector(spec)
    built = {
        "backbone": model.backbone,
        "bifpn": model.fpn,
        "class_head": model.class_net,
        "box_head": model.box_net,
    }
    for part, module in built.items():
        assert sum(p.numel() for p in module.parameters()) == prof.parts()[part].params, part
    del model, built
    gc.collect()


def test_d0_breakdown() -> None:
    prof = profile_detection(get_detection_preset("efficientdet_d0"))
    parts = {k: v.params for k, v in prof.parts().items()}
    # Backbone = EfficientNet-B0 (5,288,548) minus its 1280-wide head conv + BN and the 1000-way classifier.
    assert parts["backbone"] == 5_288_548 - (320 * 1280 + 2 * 1280) - (1280 * 1000 + 1000)
    assert parts == {"backbone": 3_595_388, "bifpn": 196_281, "class_head": 69_354, "box_head": 19_044}
    assert prof.feature_channels == (40, 112, 320) and prof.feature_stages == (2, 4, 6)


def test_num_classes_changes_only_the_class_head() -> None:
    d0 = profile_detection(get_detection_preset("efficientdet_d0"))
    d0_10 = profile_detection(get_detection_preset("efficientdet_d0", num_classes=10))
    assert d0.params - d0_10.params == 80 * 9 * (64 + 1)
    assert d0_10.box_head == d0.box_head and d0_10.bifpn == d0.bifpn


def hook_macs(model: nn.Module, x: torch.Tensor) -> int:
    """Conv MACs of one forward pass, per image, counted by forward hooks."""
    total = 0

    def hook(mod: nn.Module, _inp: object, out: torch.Tensor) -> None:
        nonlocal total
        total += mod.weight.numel() * out.shape[2] * out.shape[3]

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return total


@pytest.mark.parametrize("name", ["efficientdet_d0", "efficientdet_d3", "efficientdet_d7x"])
def test_analytic_macs_match_hooks(name: str) -> None:
    spec = get_detection_preset(name, resolution=2 ** (get_detection_preset(name).max_level + 1))
    model = build_detector(spec).eval()
    x = torch.randn(1, 3, spec.resolution, spec.resolution)
    assert hook_macs(model, x) == profile_detection(spec).macs


def test_d0_macs_at_512() -> None:
    # The paper quotes 2.5B FLOPs (multiply-adds) for D0 at 512.
    assert round(profile_detection(get_detection_preset("efficientdet_d0")).macs / 1e9, 1) == 2.5


@pytest.mark.parametrize("name", list_detection_presets())
def test_forward_backward_shapes(name: str) -> None:
    base = get_detection_preset(name)
    res = 2**base.max_level  # the coarsest level is 1x1
    spec = get_detection_preset(name, resolution=res, num_classes=5)
    model = build_detector(spec).train()
    x = torch.randn(2, 3, res, res)
    cls_out, box_out = model(x)
    assert len(cls_out) == len(box_out) == spec.num_levels
    for i, level in enumerate(range(spec.min_level, spec.max_level + 1)):
        size = res // 2**level
        assert cls_out[i].shape == (2, 9 * 5, size, size)
        assert box_out[i].shape == (2, 9 * 4, size, size)
    loss = sum(o.float().square().mean() for o in cls_out + box_out)
    loss.backward()
    weights = [m.edge_weights for m in model.fpn.modules() if getattr(m, "edge_weights", None) is not None]
    if spec.fpn_weighting == "sum":
        assert weights == []
    else:
        assert weights and all(w.grad is not None for w in weights)
    assert model.class_net.predict.conv_pw.weight.grad is not None
    del model
    gc.collect()
