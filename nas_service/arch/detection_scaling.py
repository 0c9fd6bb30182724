"""Compound scaling for detection: one coefficient ``phi`` scales backbone, BiFPN, heads and resolution together.

Two rules (pure Python):

* **The stored D-table** (:func:`efficientdet_for_phi`): ``phi = 0..7`` gives the reference EfficientDet-D``phi``
  (:data:`~nas_service.arch.detection_presets.EFFICIENTDET_VARIANTS`), whose widths were rounded by hand.
* **The paper's formulas for your own base** (:func:`scale_detection`): BiFPN width ``W0 * 1.35**phi`` (rounded
  to a multiple of 8), BiFPN depth ``D0 + phi``, head depth ``H0 + floor(phi / 3)``, resolution
  ``R0 * (1 + phi / 4)`` (the paper's ``512 + 128 phi`` for ``R0 = 512``, here rounded to a multiple of
  ``2**max_level``), and the backbone's width and depth multiplied by those of EfficientNet-B``phi``
  (:data:`~nas_service.arch.scaling.EFFICIENTNET_PARAMS`, so an EfficientNet-B0 backbone becomes exactly
  B``phi`` as in the paper; above ``phi = 7``, EfficientNet compound scaling). With the D0 base the formula
  widths are 88, 120, 160, 216, 288, 384 for ``phi = 1..6`` (the table: 88, 112, 160, 224, 288, 384).

:func:`detection_scaling_table` lists either rule's networks with their analytic params and MACs: the table the
API and dashboard show for a detection scaling job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from nas_service.arch.detection import DetectionArchitecture
from nas_service.arch.detection_presets import EFFICIENTDET_VARIANTS, efficientdet
from nas_service.arch.detection_profile import profile_detection
from nas_service.arch.scaling import EFFICIENTNET_PARAMS, make_divisible, scale_architecture
from nas_service.arch.spec import Architecture

#: BiFPN width growth per unit of ``phi`` (the paper's grid search over {1.2, 1.25, 1.3, 1.35, 1.4, 1.45}).
BIFPN_WIDTH_FACTOR = 1.35

ScalingRule = Literal["table", "formula"]


def efficientdet_for_phi(phi: int, **overrides: Any) -> DetectionArchitecture:
    """EfficientDet-D``phi`` from the stored table (``phi`` in 0..7), fields overridden.

    Raises:
        ValueError: Naming ``phi`` when it is outside the table.
    """
    key = f"d{phi}"
    if key not in EFFICIENTDET_VARIANTS:
        raise ValueError(f"phi: the D-table covers 0..7, got {phi}; use the formula rule for other values")
    return efficientdet(key, **overrides)


def scale_backbone(backbone: Architecture, phi: int) -> Architecture:
    """The backbone at ``phi``: B0->B``phi`` multipliers up to 7, EfficientNet compound scaling beyond."""
    if phi == 0:
        return backbone
    key = f"b{phi}"
    if key not in EFFICIENTNET_PARAMS:
        return scale_architecture(backbone, phi)
    p = EFFICIENTNET_PARAMS[key]
    if backbone.name == "efficientnet_b0":
        name: str | None = f"efficientnet_{key}"
    else:
        name = f"{backbone.name}_phi{phi}" if backbone.name else None
    data = backbone.model_dump()
    data.update(
        name=name,
        width_multiplier=round(backbone.width_multiplier * p.width, 6),
        depth_multiplier=round(backbone.depth_multiplier * p.depth, 6),
    )
    return Architecture.model_validate(data)


def scale_detection(base: DetectionArchitecture, phi: int) -> DetectionArchitecture:
    """Scale a detector of your own by the paper's formulas (see the module docstring).

    Raises:
        ValueError: Naming ``phi`` when it is negative.
    """
    if phi < 0:
        raise ValueError(f"phi: must be 0 or more, got {phi}")
    step = 2**base.max_level
    resolution = max(step, round(base.resolution * (1 + phi / 4) / step) * step)
    backbone = scale_backbone(base.backbone, phi)
    name = f"{base.name}_phi{phi}" if base.name else None
    return base.model_copy(
        update={
            "name": name,
            "backbone": backbone,
            "fpn_channels": make_divisible(base.fpn_channels * BIFPN_WIDTH_FACTOR**phi, 8),
            "fpn_repeats": base.fpn_repeats + phi,
            "head_repeats": base.head_repeats + phi // 3,
            "resolution": resolution,
        }
    )


@dataclass(frozen=True)
class ScalingRow:
    """One row of a detection scaling table."""

    phi: int
    name: str | None
    backbone: str | None
    fpn_channels: int
    fpn_repeats: int
    head_repeats: int
    resolution: int
    params: int
    macs: int


def detection_scaling_table(
    phis: list[int], rule: ScalingRule = "table", base: DetectionArchitecture | None = None, **overrides: Any
) -> list[ScalingRow]:
    """The networks of ``phis`` under ``rule`` (``formula`` needs ``base``), with analytic params and MACs.

    Raises:
        ValueError: Naming ``base`` when the formula rule has none, or ``phi`` when out of range.
    """
    rows = []
    for phi in phis:
        if rule == "table":
            spec = efficientdet_for_phi(phi, **overrides)
        else:
            if base is None:
                raise ValueError("base: the formula rule scales a base detector; give one")
            spec = scale_detection(base, phi)
        prof = profile_detection(spec)
        rows.append(
            ScalingRow(
                phi=phi,
                name=spec.name,
                backbone=spec.backbone.name,
                fpn_channels=spec.fpn_channels,
                fpn_repeats=spec.fpn_repeats,
                head_repeats=spec.head_repeats,
                resolution=spec.resolution,
                params=prof.params,
                macs=prof.macs,
            )
        )
    return rows
