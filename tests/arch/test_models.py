"""Every preset: exact params (analytic and built), forward + backward, analytic MACs == hook count."""

from __future__ import annotations

import gc

import pytest
import torch
from torch import nn

from nas_service.arch import build_model, count_macs, count_params, get_preset, list_presets
from nas_service.arch.spec import Architecture

#: timm's published parameter counts at 1000 classes.
EXPECTED_PARAMS: dict[str, int] = {
    "efficientnet_b0": 5_288_548,
    "efficientnet_b1": 7_794_184,
    "efficientnet_b2": 9_109_994,
    "efficientnet_b3": 12_233_232,
    "efficientnet_b4": 19_341_616,
    "efficientnet_b5": 30_389_784,
    "efficientnet_b6": 43_040_704,
    "efficientnet_b7": 66_347_960,
    "mnasnet_a1": 3_887_038,
    "mnasnet_b1": 4_383_312,
    "mixnet_s": 4_134_606,
    "mixnet_m": 5_014_382,
    "mixnet_l": 7_329_252,
    "mobilenetv2_100": 3_504_872,
    "mobilenetv3_large_100": 5_483_032,
    "mobilenetv3_small_100": 2_542_856,
}


def test_every_preset_has_an_expected_count() -> None:
    assert sorted(EXPECTED_PARAMS) == list_presets()


@pytest.mark.parametrize("name", list_presets())
def test_exact_params(name: str) -> None:
    arch = get_preset(name)
    assert arch.num_classes == 1000
    assert count_params(arch) == EXPECTED_PARAMS[name]
    model = build_model(arch)
    built = sum(p.numel() for p in model.parameters())
    del model
    gc.collect()
    assert built == EXPECTED_PARAMS[name]


def hook_macs(model: nn.Module, x: torch.Tensor) -> int:
    """MACs of convs and linears, counted from a forward pass (per image)."""
    total = 0

    def hook(mod: nn.Module, _inp: object, out: torch.Tensor) -> None:
        nonlocal total
        assert isinstance(mod, nn.Conv2d | nn.Linear)
        spatial = out.shape[2] * out.shape[3] if isinstance(mod, nn.Conv2d) else 1
        total += mod.weight.numel() * spatial

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return total


@pytest.mark.parametrize("name", list_presets())
def test_forward_backward_and_macs(name: str) -> None:
    res = 32
    arch = get_preset(name, num_classes=10, resolution=res, drop_path=0.1)
    model = build_model(arch)
    x = torch.randn(2, 3, res, res)
    model.train()
    out = model(x)
    assert out.shape == (2, 10)
    out.square().mean().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None for g in grads)
    assert all(torch.isfinite(g).all() for g in grads if g is not None)
    model.eval()
    assert hook_macs(model, x) == count_macs(arch)
    del model, out, grads
    gc.collect()


def test_b0_macs_at_224() -> None:
    arch = get_preset("efficientnet_b0")
    macs = count_macs(arch)
    print(f"efficientnet_b0 @224: {macs:,} MACs")
    assert macs == 385_814_752
    assert 385.7e6 < macs < 385.9e6
    assert count_macs(arch, resolution=224) == macs
    model = build_model(arch).eval()
    assert hook_macs(model, torch.randn(1, 3, 224, 224)) == macs


def test_macs_scale_with_resolution() -> None:
    arch = get_preset("mobilenetv3_large_100")
    assert count_macs(arch, 112) < count_macs(arch, 224)
    assert count_macs(arch) == count_macs(arch, 224)


def test_custom_architecture_counts() -> None:
    """Beyond the presets: dilation, exponential MDConv, grouped 1x1, mixed-kernel cn, no head conv."""
    arch = Architecture.from_block_strings(
        [
            ["cn_r1_k3.5_s1_c24"],
            ["ir_r2_k3.5.7.9_a1.1_p1.1_s2_e4_c32_se0.25_mexp", "ds_r1_k3.5_s1_c32_d2"],
            ["ir_r1_k5_s2_e2.5_c40_nhs_noskip_d2"],
        ],
        stem={"out_channels": 16},
        head={"num_features": 0},
        num_classes=7,
        resolution=40,
        width_multiplier=1.25,
        depth_multiplier=1.5,
    )
    model = build_model(arch).eval()
    assert sum(p.numel() for p in model.parameters()) == count_params(arch)
    x = torch.randn(2, 3, 40, 40)
    assert hook_macs(model, x) == count_macs(arch)
    assert model(x).shape == (2, 7)


def test_feature_info_and_forward_features() -> None:
    arch = get_preset("efficientnet_b0", resolution=64, num_classes=10)
    model = build_model(arch).eval()
    assert [f["reduction"] for f in model.feature_info] == [2, 4, 8, 16, 16, 32, 32]
    assert [f["num_chs"] for f in model.feature_info] == [16, 24, 40, 80, 112, 192, 320]
    with torch.no_grad():
        feats = model.forward_features(torch.randn(1, 3, 64, 64))
        assert feats.shape == (1, 1280, 2, 2)
        assert model.forward_head(feats, pre_logits=True).shape == (1, 1280)


@pytest.mark.parametrize("name", ["mixnet_s", "mobilenetv3_small_100"])
def test_torchscript(name: str) -> None:
    model = build_model(get_preset(name, num_classes=10, resolution=32, drop_path=0.1)).eval()
    scripted = torch.jit.script(model)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(scripted(x), model(x), atol=1e-5)
