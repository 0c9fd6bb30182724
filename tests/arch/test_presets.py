"""Preset registry, overrides and JSON round trips."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from nas_service.arch import (
    EFFICIENTNET_PARAMS,
    PRESETS,
    Architecture,
    UnknownPresetError,
    count_params,
    get_preset,
    list_presets,
    resolve_architecture,
)


def test_registry() -> None:
    names = list_presets()
    assert names == sorted(PRESETS)
    assert len(names) == 16
    for expected in ("efficientnet_b0", "efficientnet_b7", "mnasnet_a1", "mixnet_l", "mobilenetv3_small_100"):
        assert expected in names


@pytest.mark.parametrize("name", list_presets())
def test_json_round_trip(name: str) -> None:
    arch = get_preset(name)
    assert arch.name == name
    again = Architecture.model_validate_json(arch.model_dump_json())
    assert again == arch
    assert again.arch_hash() == arch.arch_hash()


def test_efficientnet_settings() -> None:
    for variant, p in EFFICIENTNET_PARAMS.items():
        arch = get_preset(f"efficientnet_{variant}")
        assert (arch.width_multiplier, arch.depth_multiplier, arch.resolution, arch.dropout) == tuple(p)


def test_overrides() -> None:
    arch = get_preset("efficientnet_b0", num_classes=10, resolution=32, drop_path=0.2)
    assert (arch.num_classes, arch.resolution, arch.drop_path) == (10, 32, 0.2)
    assert count_params(arch) == 5_288_548 - 990 * 1280 - 990
    named = get_preset("mixnet_l", name="mine")
    assert named.name == "mine" and named.width_multiplier == 1.3
    assert get_preset("mixnet_l").name == "mixnet_l"
    with pytest.raises(ValidationError):
        get_preset("efficientnet_b0", num_classes=0)


def test_unknown_preset_lists_names() -> None:
    with pytest.raises(UnknownPresetError, match="valid presets: efficientnet_b0") as info:
        get_preset("efficientnet_b9")
    assert isinstance(info.value, KeyError)
    assert "mobilenetv3_small_100" in str(info.value)


def test_mixnet_l_widths() -> None:
    net = resolve_architecture(get_preset("mixnet_l"))
    assert net.stem_channels == 32  # 24 * 1.3 rounded
    assert net.num_features == 1536  # head width is fixed
    assert [b.out_channels for b in net.blocks][:3] == [32, 40, 40]


def test_width_one_keeps_odd_widths() -> None:
    arch = Architecture.from_block_strings(
        [["ir_r1_k3_s2_e3_c12"]], stem={"out_channels": 10}, head={"num_features": 20}
    )
    net = resolve_architecture(arch)
    assert (net.stem_channels, net.blocks[0].out_channels, net.num_features) == (10, 12, 20)
    assert net.blocks[0].mid_channels == 32  # make_divisible(30)
    wide = resolve_architecture(arch.model_copy(update={"width_multiplier": 1.5}))
    assert (wide.stem_channels, wide.blocks[0].out_channels, wide.num_features) == (16, 24, 32)


def test_resolver_refuses_unbuildable_blocks() -> None:
    with pytest.raises(ValueError, match="cn blocks have no squeeze-excite"):
        resolve_architecture(Architecture.from_block_strings([["cn_r1_k3_s1_c16_se0.25"]]))
    with pytest.raises(ValueError, match="cannot split"):
        resolve_architecture(
            Architecture.from_block_strings([["ir_r1_k3.5.7.9.11_s1_e1_c16_mexp"]], stem={"out_channels": 8})
        )
