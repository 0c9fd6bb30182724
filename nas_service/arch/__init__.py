"""Architecture language: specs, block strings, scaling rules, the PyTorch builder and published presets.

Importing this package does not import torch: the torch-backed names (``build_model``, ``NasNet``, the blocks)
are loaded on first access.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from nas_service.arch.blockstr import BlockStringError, decode_block, decode_stages, encode_block
from nas_service.arch.detection import DetectionArchitecture, bifpn_nodes, resolve_detection
from nas_service.arch.detection_presets import (
    DETECTION_PRESETS,
    get_detection_preset,
    list_detection_presets,
)
from nas_service.arch.detection_profile import profile_detection
from nas_service.arch.presets import PRESETS, UnknownPresetError, get_preset, list_presets
from nas_service.arch.profile import count_macs, count_params, profile_architecture
from nas_service.arch.resolve import (
    ResolvedBlock,
    ResolvedNetwork,
    resolve_architecture,
    resolved_blocks,
    se_reduce_channels,
    split_channels,
)
from nas_service.arch.scaling import (
    EFFICIENTDET_PARAMS,
    EFFICIENTNET_PARAMS,
    compound_multipliers,
    flops_factor,
    make_divisible,
    round_channels,
    scale_architecture,
    scale_stage_depth,
)
from nas_service.arch.spec import Architecture, BlockSpec, HeadSpec, StemSpec

if TYPE_CHECKING:
    from nas_service.arch.bifpn import EfficientDet, build_detector
    from nas_service.arch.blocks import (
        ConvBnAct,
        DepthwiseSeparable,
        InvertedResidual,
        MixedConv2d,
        SqueezeExcite,
    )
    from nas_service.arch.builder import NasNet, build_model

# Names whose modules import torch, resolved lazily (PEP 562).
_LAZY = {
    "build_model": "nas_service.arch.builder",
    "build_detector": "nas_service.arch.bifpn",
    "EfficientDet": "nas_service.arch.bifpn",
    "NasNet": "nas_service.arch.builder",
    "ConvBnAct": "nas_service.arch.blocks",
    "DepthwiseSeparable": "nas_service.arch.blocks",
    "InvertedResidual": "nas_service.arch.blocks",
    "MixedConv2d": "nas_service.arch.blocks",
    "SqueezeExcite": "nas_service.arch.blocks",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DETECTION_PRESETS",
    "DetectionArchitecture",
    "EfficientDet",
    "bifpn_nodes",
    "build_detector",
    "get_detection_preset",
    "list_detection_presets",
    "profile_detection",
    "resolve_detection",
    "EFFICIENTDET_PARAMS",
    "EFFICIENTNET_PARAMS",
    "PRESETS",
    "Architecture",
    "BlockSpec",
    "BlockStringError",
    "ConvBnAct",
    "DepthwiseSeparable",
    "HeadSpec",
    "InvertedResidual",
    "MixedConv2d",
    "NasNet",
    "ResolvedBlock",
    "ResolvedNetwork",
    "SqueezeExcite",
    "StemSpec",
    "UnknownPresetError",
    "build_model",
    "compound_multipliers",
    "count_macs",
    "count_params",
    "decode_block",
    "decode_stages",
    "encode_block",
    "flops_factor",
    "get_preset",
    "list_presets",
    "make_divisible",
    "profile_architecture",
    "resolve_architecture",
    "resolved_blocks",
    "round_channels",
    "scale_architecture",
    "scale_stage_depth",
    "se_reduce_channels",
    "split_channels",
]
