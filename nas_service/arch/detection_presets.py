"""EfficientDet D0-D7 and D7x as data, built from the stored D-table (:data:`EFFICIENTDET_PARAMS`).

Each preset is the TensorFlow reference model (google/automl) as ported by ``effdet``'s ``tf_efficientdet_*``:
an EfficientNet backbone with BN eps 1e-3 / momentum 0.01 and stochastic depth 0.2, levels P3-P7 (P3-P8 for
D7x) with P3-P5 from the backbone, fast normalized fusion up to D5 and an unweighted sum for D6, D7 and D7x,
9 anchors, biases before BN. Parameter counts at 90 classes (checked in the tests; the paper's rounded figures
in brackets):

=================  ===========  =======  =======  =======  ==================================
preset             params       paper    MACs     paper    backbone / width / layers / head
=================  ===========  =======  =======  =======  ==================================
efficientdet_d0     3,880,067   3.9M     2.49G    2.5B     B0 / 64 / 3 / 3, 512
efficientdet_d1     6,625,898   6.6M     6.00G    6.1B     B1 / 88 / 4 / 3, 640
efficientdet_d2     8,097,039   8.1M     10.83G   11B      B2 / 112 / 5 / 3, 768
efficientdet_d3    12,032,296   12.0M    24.57G   25B      B3 / 160 / 6 / 4, 896
efficientdet_d4    20,723,675   20.7M    54.58G   55B      B4 / 224 / 7 / 4, 1024
efficientdet_d5    33,653,315   33.7M    134.13G  135B     B5 / 288 / 7 / 4, 1280
efficientdet_d6    51,871,782   51.9M    224.12G  226B     B6 / 384 / 8 / 5, 1280
efficientdet_d7    51,871,782   51.9M    322.73G  325B     D6 at 1536, anchor scale 5
efficientdet_d7x   77,147,166   77.1M    407.63G  410B     B7 / 384 / 8 / 5, 1536, P3-P8
=================  ===========  =======  =======  =======  ==================================

D0's count is the reference's published exact figure; the others are this builder's counts of the reference
structure, equal to the paper's figures at the paper's precision. MACs are this module's convention (convs
only, see :mod:`nas_service.arch.detection_profile`); the paper's FLOPs also count a few cheaper operations.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, NamedTuple

from nas_service.arch.detection import DetectionArchitecture, FpnWeighting
from nas_service.arch.presets import get_preset
from nas_service.arch.scaling import EFFICIENTDET_PARAMS, EfficientDetParams

#: D7x is not in the paper's Table 1 (it came with the automl release): D7's network on a B7 backbone with a
#: sixth level, P8.
EFFICIENTDET_D7X = EfficientDetParams(1536, "efficientnet_b7", 384, 8, 5)


class EfficientDetVariant(NamedTuple):
    """One reference variant: the D-table row plus the settings the table does not hold."""

    params: EfficientDetParams
    max_level: int = 7
    fpn_weighting: FpnWeighting = "fast"
    anchor_scale: float = 4.0


#: Variant name -> settings (``d0`` ... ``d7``, ``d7x``).
EFFICIENTDET_VARIANTS: dict[str, EfficientDetVariant] = {
    **{k: EfficientDetVariant(p) for k, p in EFFICIENTDET_PARAMS.items() if k not in ("d6", "d7")},
    "d6": EfficientDetVariant(EFFICIENTDET_PARAMS["d6"], fpn_weighting="sum"),
    "d7": EfficientDetVariant(EFFICIENTDET_PARAMS["d7"], fpn_weighting="sum", anchor_scale=5.0),
    "d7x": EfficientDetVariant(EFFICIENTDET_D7X, max_level=8, fpn_weighting="sum"),
}

#: Backbone settings of the ``tf_efficientnet`` backbones the reference detectors use.
REFERENCE_BACKBONE_SETTINGS: dict[str, Any] = {"bn_eps": 1e-3, "bn_momentum": 0.01, "drop_path": 0.2}


def efficientdet(variant: str, **overrides: Any) -> DetectionArchitecture:
    """EfficientDet ``variant`` (``d0`` ... ``d7x``) with fields overridden (``num_classes=10``, ...)."""
    v = EFFICIENTDET_VARIANTS[variant]
    p = v.params
    data: dict[str, Any] = {
        "name": f"efficientdet_{variant}",
        "backbone": get_preset(p.backbone, **REFERENCE_BACKBONE_SETTINGS),
        "max_level": v.max_level,
        "fpn_channels": p.bifpn_width,
        "fpn_repeats": p.bifpn_depth,
        "fpn_weighting": v.fpn_weighting,
        "head_repeats": p.head_depth,
        "anchor_scale": v.anchor_scale,
        "resolution": p.input_size,
        **overrides,
    }
    return DetectionArchitecture.model_validate(data)


#: Preset name -> factory taking field overrides.
DETECTION_PRESETS: dict[str, Callable[..., DetectionArchitecture]] = {
    f"efficientdet_{v}": partial(efficientdet, v) for v in EFFICIENTDET_VARIANTS
}


class UnknownDetectionPresetError(KeyError):
    """The detection preset name is not registered; the message lists the valid names."""

    def __str__(self) -> str:
        return str(self.args[0])


def list_detection_presets() -> list[str]:
    """Registered detection preset names, in D order."""
    return list(DETECTION_PRESETS)


def get_detection_preset(name: str, /, **overrides: Any) -> DetectionArchitecture:
    """The detection preset ``name`` with fields overridden.

    Raises:
        UnknownDetectionPresetError: For an unknown name (the message lists the valid names).
        pydantic.ValidationError: For an invalid override.
    """
    try:
        factory = DETECTION_PRESETS[name]
    except KeyError:
        raise UnknownDetectionPresetError(
            f"unknown detection preset {name!r}; valid: {', '.join(list_detection_presets())}"
        ) from None
    return factory(**overrides)
