"""Scaling rules: channel rounding, per-stage depth scaling and compound (EfficientNet) scaling.

Everything here is pure Python (no torch), so the API process and the CLI can use it cheaply.

The rules follow the published EfficientNet family (TensorFlow reference and timm):

* channels are rounded to a multiple of 8, never dropping below 90% of the requested width
  (:func:`make_divisible`, :func:`round_channels`);
* depth is scaled per stage: the stage's total repeat count is multiplied and truncated (``ceil`` for
  EfficientNet, ``round`` for MixNet-M/L), then handed back to the stage's block strings in proportion, last
  block first (:func:`scale_stage_depth`);
* compound scaling uses ``depth = alpha**phi``, ``width = beta**phi``, ``resolution = gamma**phi`` under the
  constraint ``alpha * beta**2 * gamma**2 ~= 2`` (:func:`compound_multipliers`, :func:`flops_factor`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal, NamedTuple

if TYPE_CHECKING:
    from nas_service.arch.spec import Architecture

DepthTrunc = Literal["ceil", "round"]


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None, round_limit: float = 0.9) -> int:
    """Round ``v`` to the nearest multiple of ``divisor``, never below ``round_limit`` of ``v``.

    Args:
        v: The requested (possibly fractional) channel count.
        divisor: The result is a multiple of this.
        min_value: Lower bound of the result (defaults to ``divisor``).
        round_limit: If rounding to the nearest multiple loses more than ``1 - round_limit`` of ``v``, one
            more ``divisor`` is added (``0.9``: the result is always at least 90% of ``v``).

    Returns:
        The rounded channel count.
    """
    floor = divisor if min_value is None else min_value
    nearest = int(v + divisor / 2) // divisor * divisor
    result = max(floor, nearest)
    if result < round_limit * v:
        result += divisor
    return result


def round_channels(
    channels: int,
    multiplier: float = 1.0,
    divisor: int = 8,
    min_value: int | None = None,
    round_limit: float = 0.9,
) -> int:
    """Scale a channel count by a width multiplier and round it with :func:`make_divisible`.

    A multiplier of ``0`` (or ``None``) returns ``channels`` unchanged, as in timm. Note that timm rounds even
    at a multiplier of 1.0; the builder in this package skips the call at exactly 1.0 so that hand-written
    widths that are not multiples of 8 survive (see :mod:`nas_service.arch.resolve`).

    Args:
        channels: Base channel count.
        multiplier: Width multiplier.
        divisor: Rounding divisor.
        min_value: Lower bound of the result.
        round_limit: See :func:`make_divisible`.

    Returns:
        The scaled, rounded channel count.
    """
    if not multiplier:
        return channels
    return make_divisible(channels * multiplier, divisor, min_value, round_limit=round_limit)


def scale_stage_depth(repeats: list[int], depth_multiplier: float, trunc: DepthTrunc = "ceil") -> list[int]:
    """Scale the repeat counts of one stage.

    The stage total is scaled and truncated (``ceil``: any multiplier above 1 deepens every stage, the
    EfficientNet rule; ``round``: single-repeat stages stay single for longer, the MixNet-M/L rule). The new
    total is then shared out in proportion to the original repeats, starting from the *last* block string of
    the stage, so the first (usually strided) block is the least likely to be repeated. Every block string
    keeps at least one repeat.

    Args:
        repeats: Repeats of each block string of the stage.
        depth_multiplier: Depth multiplier.
        trunc: ``"ceil"`` or ``"round"``.

    Returns:
        The scaled repeats, one per block string, in the original order.

    Raises:
        ValueError: On an empty stage, a non-positive repeat, or an unknown ``trunc``.
    """
    if not repeats:
        raise ValueError("a stage needs at least one block")
    if any(r < 1 for r in repeats):
        raise ValueError(f"repeats must be positive, got {repeats}")
    total = sum(repeats)
    if trunc == "round":
        target = max(1, round(total * depth_multiplier))
    elif trunc == "ceil":
        target = int(math.ceil(total * depth_multiplier))
    else:
        raise ValueError(f"unknown depth truncation {trunc!r} (expected 'ceil' or 'round')")
    remaining, remaining_target = total, target
    scaled_reversed: list[int] = []
    for r in reversed(repeats):
        share = max(1, round(r / remaining * remaining_target))
        scaled_reversed.append(share)
        remaining -= r
        remaining_target -= share
    return scaled_reversed[::-1]


class EfficientNetParams(NamedTuple):
    """Compound-scaling coefficients of one EfficientNet variant."""

    width: float
    depth: float
    resolution: int
    dropout: float


#: EfficientNet B0-B7 (width multiplier, depth multiplier, input resolution, dropout), from the paper / TF
#: reference.
EFFICIENTNET_PARAMS: dict[str, EfficientNetParams] = {
    "b0": EfficientNetParams(1.0, 1.0, 224, 0.2),
    "b1": EfficientNetParams(1.0, 1.1, 240, 0.2),
    "b2": EfficientNetParams(1.1, 1.2, 260, 0.3),
    "b3": EfficientNetParams(1.2, 1.4, 300, 0.3),
    "b4": EfficientNetParams(1.4, 1.8, 380, 0.4),
    "b5": EfficientNetParams(1.6, 2.2, 456, 0.4),
    "b6": EfficientNetParams(1.8, 2.6, 528, 0.5),
    "b7": EfficientNetParams(2.0, 3.1, 600, 0.5),
}


class EfficientDetParams(NamedTuple):
    """Scaling configuration of one EfficientDet variant (EfficientDet paper, Table 1)."""

    input_size: int
    backbone: str
    bifpn_width: int
    bifpn_depth: int
    head_depth: int


#: EfficientDet D0-D7: input size, backbone, BiFPN channels, BiFPN layers, box/class head layers.
#: The table follows the paper's rules ``W = 64 * 1.35**phi`` (rounded to hardware-friendly widths),
#: ``D_bifpn = 3 + phi``, ``D_head = 3 + floor(phi / 3)``, ``R = 512 + 128 * phi``, except D7, which keeps
#: D6's network at a larger input (1536).
EFFICIENTDET_PARAMS: dict[str, EfficientDetParams] = {
    "d0": EfficientDetParams(512, "efficientnet_b0", 64, 3, 3),
    "d1": EfficientDetParams(640, "efficientnet_b1", 88, 4, 3),
    "d2": EfficientDetParams(768, "efficientnet_b2", 112, 5, 3),
    "d3": EfficientDetParams(896, "efficientnet_b3", 160, 6, 4),
    "d4": EfficientDetParams(1024, "efficientnet_b4", 224, 7, 4),
    "d5": EfficientDetParams(1280, "efficientnet_b5", 288, 7, 4),
    "d6": EfficientDetParams(1280, "efficientnet_b6", 384, 8, 5),
    "d7": EfficientDetParams(1536, "efficientnet_b6", 384, 8, 5),
}

#: Coefficients found by the EfficientNet paper's grid search (alpha: depth, beta: width, gamma: resolution).
EFFICIENTNET_ALPHA = 1.2
EFFICIENTNET_BETA = 1.1
EFFICIENTNET_GAMMA = 1.15


class CompoundMultipliers(NamedTuple):
    """Multipliers given by compound scaling at one ``phi``."""

    depth: float
    width: float
    resolution_factor: float


def compound_multipliers(alpha: float, beta: float, gamma: float, phi: float) -> CompoundMultipliers:
    """Compound scaling: ``(depth, width, resolution_factor) = (alpha**phi, beta**phi, gamma**phi)``.

    Args:
        alpha: Depth coefficient.
        beta: Width coefficient.
        gamma: Resolution coefficient.
        phi: Compound coefficient (how many doublings of FLOPs, when ``flops_factor == 2``).

    Returns:
        The three multipliers.
    """
    return CompoundMultipliers(alpha**phi, beta**phi, gamma**phi)


def flops_factor(alpha: float, beta: float, gamma: float) -> float:
    """FLOPs growth per unit of ``phi``: ``alpha * beta**2 * gamma**2`` (the paper constrains it to ~2)."""
    return alpha * beta**2 * gamma**2


def scale_architecture(
    arch: Architecture,
    phi: float,
    alpha: float = EFFICIENTNET_ALPHA,
    beta: float = EFFICIENTNET_BETA,
    gamma: float = EFFICIENTNET_GAMMA,
    base_resolution: int | None = None,
    resolution_divisor: int = 8,
) -> Architecture:
    """Apply compound scaling to an architecture.

    The multipliers compose with the ones already on ``arch`` (scaling a B1 by ``phi=1`` multiplies its depth
    multiplier again). The resolution is ``base_resolution * gamma**phi`` rounded to the nearest multiple of
    ``resolution_divisor`` (8 by default, so every stride-8 feature map has an integer size; note that the
    published B1-B7 resolutions were hand-picked and are not all multiples of 8). Multipliers are rounded to 6
    decimals to keep float noise out of the architecture hash.

    Args:
        arch: The base architecture.
        phi: Compound coefficient.
        alpha: Depth coefficient.
        beta: Width coefficient.
        gamma: Resolution coefficient.
        base_resolution: Resolution to scale (defaults to ``arch.resolution``).
        resolution_divisor: The scaled resolution is a multiple of this.

    Returns:
        A new :class:`Architecture`.
    """
    mult = compound_multipliers(alpha, beta, gamma, phi)
    base = arch.resolution if base_resolution is None else base_resolution
    resolution = max(1, int(round(base * mult.resolution_factor / resolution_divisor))) * resolution_divisor
    data = arch.model_dump()
    data.update(
        width_multiplier=round(arch.width_multiplier * mult.width, 6),
        depth_multiplier=round(arch.depth_multiplier * mult.depth, 6),
        resolution=resolution,
    )
    return type(arch).model_validate(data)
