"""Published architectures as data: block strings plus settings.

Each preset is the published network as defined by the TensorFlow reference implementations and timm (which
ports them), with PyTorch-native padding and BatchNorm defaults. Parameter counts at 1000 classes (checked in
the tests):

=========================  ===========  ===========================
preset                     params       timm name
=========================  ===========  ===========================
efficientnet_b0            5,288,548    efficientnet_b0
efficientnet_b1            7,794,184    efficientnet_b1
efficientnet_b2            9,109,994    efficientnet_b2
efficientnet_b3           12,233,232    efficientnet_b3
efficientnet_b4           19,341,616    efficientnet_b4
efficientnet_b5           30,389,784    efficientnet_b5
efficientnet_b6           43,040,704    efficientnet_b6
efficientnet_b7           66,347,960    efficientnet_b7
mnasnet_a1                 3,887,038    semnasnet_100
mnasnet_b1                 4,383,312    mnasnet_100
mixnet_s                   4,134,606    mixnet_s
mixnet_m                   5,014,382    mixnet_m
mixnet_l                   7,329,252    mixnet_l
mobilenetv2_100            3,504,872    mobilenetv2_100
mobilenetv3_large_100      5,483,032    mobilenetv3_large_100
mobilenetv3_small_100      2,542,856    mobilenetv3_small_100
=========================  ===========  ===========================

Known simplifications (no effect at the published widths): MobileNetV2's head is ``max(1280, scaled)`` in timm
but plainly scaled here; MobileNetV3 keeps its stem unscaled below width 0.75 in timm, scaled here.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from nas_service.arch.scaling import EFFICIENTNET_PARAMS
from nas_service.arch.spec import Architecture, HeadSpec, StemSpec

EFFICIENTNET_BLOCKS: list[list[str]] = [
    ["ds_r1_k3_s1_e1_c16_se0.25"],
    ["ir_r2_k3_s2_e6_c24_se0.25"],
    ["ir_r2_k5_s2_e6_c40_se0.25"],
    ["ir_r3_k3_s2_e6_c80_se0.25"],
    ["ir_r3_k5_s1_e6_c112_se0.25"],
    ["ir_r4_k5_s2_e6_c192_se0.25"],
    ["ir_r1_k3_s1_e6_c320_se0.25"],
]

MNASNET_A1_BLOCKS: list[list[str]] = [
    ["ds_r1_k3_s1_e1_c16_noskip"],
    ["ir_r2_k3_s2_e6_c24"],
    ["ir_r3_k5_s2_e3_c40_se0.25"],
    ["ir_r4_k3_s2_e6_c80"],
    ["ir_r2_k3_s1_e6_c112_se0.25"],
    ["ir_r3_k5_s2_e6_c160_se0.25"],
    ["ir_r1_k3_s1_e6_c320"],
]

MNASNET_B1_BLOCKS: list[list[str]] = [
    ["ds_r1_k3_s1_c16_noskip"],
    ["ir_r3_k3_s2_e3_c24"],
    ["ir_r3_k5_s2_e3_c40"],
    ["ir_r3_k5_s2_e6_c80"],
    ["ir_r2_k3_s1_e6_c96"],
    ["ir_r4_k5_s2_e6_c192"],
    ["ir_r1_k3_s1_e6_c320_noskip"],
]

MIXNET_S_BLOCKS: list[list[str]] = [
    ["ds_r1_k3_s1_e1_c16"],
    ["ir_r1_k3_a1.1_p1.1_s2_e6_c24", "ir_r1_k3_a1.1_p1.1_s1_e3_c24"],
    ["ir_r1_k3.5.7_s2_e6_c40_se0.5_nsw", "ir_r3_k3.5_a1.1_p1.1_s1_e6_c40_se0.5_nsw"],
    ["ir_r1_k3.5.7_p1.1_s2_e6_c80_se0.25_nsw", "ir_r2_k3.5_p1.1_s1_e6_c80_se0.25_nsw"],
    ["ir_r1_k3.5.7_a1.1_p1.1_s1_e6_c120_se0.5_nsw", "ir_r2_k3.5.7.9_a1.1_p1.1_s1_e3_c120_se0.5_nsw"],
    ["ir_r1_k3.5.7.9.11_s2_e6_c200_se0.5_nsw", "ir_r2_k3.5.7.9_p1.1_s1_e6_c200_se0.5_nsw"],
]

MIXNET_M_BLOCKS: list[list[str]] = [
    ["ds_r1_k3_s1_e1_c24"],
    ["ir_r1_k3.5.7_a1.1_p1.1_s2_e6_c32", "ir_r1_k3_a1.1_p1.1_s1_e3_c32"],
    ["ir_r1_k3.5.7.9_s2_e6_c40_se0.5_nsw", "ir_r3_k3.5_a1.1_p1.1_s1_e6_c40_se0.5_nsw"],
    ["ir_r1_k3.5.7_s2_e6_c80_se0.25_nsw", "ir_r3_k3.5.7.9_a1.1_p1.1_s1_e6_c80_se0.25_nsw"],
    ["ir_r1_k3_s1_e6_c120_se0.5_nsw", "ir_r3_k3.5.7.9_a1.1_p1.1_s1_e3_c120_se0.5_nsw"],
    ["ir_r1_k3.5.7.9_s2_e6_c200_se0.5_nsw", "ir_r3_k3.5.7.9_p1.1_s1_e6_c200_se0.5_nsw"],
]

MOBILENETV2_BLOCKS: list[list[str]] = [
    ["ds_r1_k3_s1_c16"],
    ["ir_r2_k3_s2_e6_c24"],
    ["ir_r3_k3_s2_e6_c32"],
    ["ir_r4_k3_s2_e6_c64"],
    ["ir_r3_k3_s1_e6_c96"],
    ["ir_r3_k3_s2_e6_c160"],
    ["ir_r1_k3_s1_e6_c320"],
]

MOBILENETV3_LARGE_BLOCKS: list[list[str]] = [
    ["ds_r1_k3_s1_e1_c16_nre"],
    ["ir_r1_k3_s2_e4_c24_nre", "ir_r1_k3_s1_e3_c24_nre"],
    ["ir_r3_k5_s2_e3_c40_se0.25_nre"],
    ["ir_r1_k3_s2_e6_c80", "ir_r1_k3_s1_e2.5_c80", "ir_r2_k3_s1_e2.3_c80"],
    ["ir_r2_k3_s1_e6_c112_se0.25"],
    ["ir_r3_k5_s2_e6_c160_se0.25"],
    ["cn_r1_k1_s1_c960"],
]

MOBILENETV3_SMALL_BLOCKS: list[list[str]] = [
    ["ds_r1_k3_s2_e1_c16_se0.25_nre"],
    ["ir_r1_k3_s2_e4.5_c24_nre", "ir_r1_k3_s1_e3.67_c24_nre"],
    ["ir_r1_k5_s2_e4_c40_se0.25", "ir_r2_k5_s1_e6_c40_se0.25"],
    ["ir_r2_k5_s1_e3_c48_se0.25"],
    ["ir_r3_k5_s2_e6_c96_se0.25"],
    ["cn_r1_k1_s1_c576"],
]


def _make(name: str, blocks: list[list[str]], overrides: dict[str, Any], **settings: Any) -> Architecture:
    data: dict[str, Any] = {"name": name, **settings, **overrides}
    return Architecture.from_block_strings(blocks, **data)


def efficientnet(variant: str, **overrides: Any) -> Architecture:
    """EfficientNet-B0..B7 (swish, SE 0.25 from the block input, head 1280 scaled)."""
    p = EFFICIENTNET_PARAMS[variant]
    return _make(
        f"efficientnet_{variant}",
        EFFICIENTNET_BLOCKS,
        overrides,
        stem=StemSpec.model_validate({"out_channels": 32}),
        head=HeadSpec.model_validate({"num_features": 1280, "scale": True}),
        width_multiplier=p.width,
        depth_multiplier=p.depth,
        resolution=p.resolution,
        dropout=p.dropout,
        act="swish",
    )


def mnasnet_a1(**overrides: Any) -> Architecture:
    """MnasNet-A1 (with SE; timm ``semnasnet_100``)."""
    return _make(
        "mnasnet_a1",
        MNASNET_A1_BLOCKS,
        overrides,
        stem=StemSpec.model_validate({"out_channels": 32}),
        head=HeadSpec.model_validate({"num_features": 1280, "scale": False}),
        act="relu",
        dropout=0.2,
    )


def mnasnet_b1(**overrides: Any) -> Architecture:
    """MnasNet-B1 (no SE; timm ``mnasnet_100``)."""
    return _make(
        "mnasnet_b1",
        MNASNET_B1_BLOCKS,
        overrides,
        stem=StemSpec.model_validate({"out_channels": 32}),
        head=HeadSpec.model_validate({"num_features": 1280, "scale": False}),
        act="relu",
        dropout=0.2,
    )


def mixnet_s(**overrides: Any) -> Architecture:
    """MixNet-S (MDConv, grouped 1x1 convs, ReLU then swish, head 1536)."""
    return _make(
        "mixnet_s",
        MIXNET_S_BLOCKS,
        overrides,
        stem=StemSpec.model_validate({"out_channels": 16}),
        head=HeadSpec.model_validate({"num_features": 1536, "scale": False}),
        act="relu",
        dropout=0.2,
    )


def mixnet_m(**overrides: Any) -> Architecture:
    """MixNet-M (depth scaling by ``round``, as MixNet-L is MixNet-M at width 1.3)."""
    return _make(
        "mixnet_m",
        MIXNET_M_BLOCKS,
        overrides,
        stem=StemSpec.model_validate({"out_channels": 24}),
        head=HeadSpec.model_validate({"num_features": 1536, "scale": False}),
        act="relu",
        depth_trunc="round",
        dropout=0.25,
    )


def mixnet_l(**overrides: Any) -> Architecture:
    """MixNet-L: MixNet-M at width 1.3 (stem scaled, head fixed at 1536)."""
    arch = mixnet_m(**{"width_multiplier": 1.3, **overrides})
    return arch.model_copy(update={"name": overrides.get("name", "mixnet_l")})


def mobilenetv2_100(**overrides: Any) -> Architecture:
    """MobileNetV2 1.0 (ReLU6, no SE)."""
    return _make(
        "mobilenetv2_100",
        MOBILENETV2_BLOCKS,
        overrides,
        stem=StemSpec.model_validate({"out_channels": 32}),
        head=HeadSpec.model_validate({"num_features": 1280, "scale": True}),
        act="relu6",
        dropout=0.2,
    )


def _mobilenetv3(
    name: str, blocks: list[list[str]], num_features: int, overrides: dict[str, Any]
) -> Architecture:
    return _make(
        name,
        blocks,
        overrides,
        stem=StemSpec.model_validate({"out_channels": 16}),
        head=HeadSpec.model_validate({"kind": "pool_conv_act", "num_features": num_features, "scale": False}),
        act="hard_swish",
        se_from_expanded=True,
        se_gate="hard_sigmoid",
        se_act="relu",
        dropout=0.2,
    )


def mobilenetv3_large_100(**overrides: Any) -> Architecture:
    """MobileNetV3-Large 1.0 (hard-swish, SE from expanded width with hard-sigmoid gate, efficient head)."""
    return _mobilenetv3("mobilenetv3_large_100", MOBILENETV3_LARGE_BLOCKS, 1280, overrides)


def mobilenetv3_small_100(**overrides: Any) -> Architecture:
    """MobileNetV3-Small 1.0."""
    return _mobilenetv3("mobilenetv3_small_100", MOBILENETV3_SMALL_BLOCKS, 1024, overrides)


#: Preset name -> factory taking field overrides (``num_classes=10``, ``resolution=64``, ...).
PRESETS: dict[str, Callable[..., Architecture]] = {
    **{f"efficientnet_{v}": partial(efficientnet, v) for v in EFFICIENTNET_PARAMS},
    "mnasnet_a1": mnasnet_a1,
    "mnasnet_b1": mnasnet_b1,
    "mixnet_s": mixnet_s,
    "mixnet_m": mixnet_m,
    "mixnet_l": mixnet_l,
    "mobilenetv2_100": mobilenetv2_100,
    "mobilenetv3_large_100": mobilenetv3_large_100,
    "mobilenetv3_small_100": mobilenetv3_small_100,
}


class UnknownPresetError(KeyError):
    """The preset name is not registered; the message lists the valid names."""

    def __str__(self) -> str:
        return str(self.args[0])


def list_presets() -> list[str]:
    """Registered preset names, sorted."""
    return sorted(PRESETS)


def get_preset(name: str, /, **overrides: Any) -> Architecture:
    """The preset ``name`` with fields overridden (any :class:`Architecture` field).

    Raises:
        UnknownPresetError: For an unknown name (a ``KeyError``; the message lists the valid names).
        pydantic.ValidationError: For an invalid override.
    """
    try:
        factory = PRESETS[name]
    except KeyError:
        raise UnknownPresetError(
            f"unknown preset {name!r}; valid presets: {', '.join(list_presets())}"
        ) from None
    return factory(**overrides)
