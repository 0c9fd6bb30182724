"""Detection architectures (EfficientDet family) as data: a backbone, a BiFPN and shared class/box heads.

A :class:`DetectionArchitecture` holds a classification :class:`~nas_service.arch.spec.Architecture` as its
backbone (any preset or block strings; its head and classifier are not used) plus the settings of the feature
network and the heads. Everything here is pure Python (no torch); the modules are made by
:func:`nas_service.arch.bifpn.build_detector` and counted by :mod:`nas_service.arch.detection_profile`, both from
the same :func:`resolve_detection` output, so they cannot disagree.

Structure (that of the EfficientDet reference, google/automl and its PyTorch port ``effdet``):

* **Feature levels.** Level ``l`` has stride ``2**l``. Levels ``min_level..backbone_max_level`` are the outputs
  of the *last* backbone stage whose cumulative stride is ``2**l`` (EfficientNet-B0: stages 2, 4, 6 with 40, 112
  and 320 channels). Backbone stages after the deepest used one are dropped, as is the classifier head.
* **Extra levels.** Each level above ``backbone_max_level`` is made from the one below: a 1x1 conv (with bias)
  + BN when the widths differ, then a 3x3 stride-2 max pool.
* **BiFPN** (:func:`bifpn_nodes`): a top-down path (``max_level - 1`` down to ``min_level``, each node fusing the
  level's current feature with the upsampled coarser one) then a bottom-up path (``min_level + 1`` up to
  ``max_level``, fusing every earlier feature of the level with the downsampled finer one). Each input is
  resampled to the node: a 1x1 conv + BN (each node has its own, so a backbone feature used by two nodes of the
  first layer gets two convs) when its width is not ``fpn_channels``, nearest 2x upsampling or a 3x3 stride-2
  max pool. Inputs are fused with *fast normalized fusion* ``sum(relu(w_i) x_i) / (sum(relu(w_i)) + 1e-4)``
  (one learned weight per input; ``softmax`` or an unweighted ``sum`` as alternatives; D6-D7x use ``sum``),
  followed by the activation and a depthwise-separable 3x3 conv (depthwise, pointwise, BN).
* **Heads.** Class and box heads share their ``head_repeats`` separable convs across levels, with one BN per
  level and repeat, then the activation; a final separable conv predicts ``anchors * num_classes`` (class) or
  ``anchors * 4`` (box) values per location. Anchors per location: ``num_scales * len(aspect_ratios)`` (9).
* ``redundant_bias=True`` keeps the reference's bias on convs followed by BN (the TF checkpoints have them);
  they count in the parameters.

Padding is symmetric, as in the classification builder; the reference uses TensorFlow "same" padding, which
gives the same shapes (and the same parameter counts) whenever the resolution is a multiple of
``2**max_level``, which is required.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from nas_service.arch.resolve import ResolvedNetwork, resolve_architecture
from nas_service.arch.spec import MAX_CHANNELS, Activation, Architecture

FpnWeighting = Literal["fast", "softmax", "sum"]

#: The reference's anchor aspect ratios as (width, height) factors: 1:1, 2:1, 1:2.
DEFAULT_ASPECT_RATIOS: list[tuple[float, float]] = [(1.0, 1.0), (1.4, 0.7), (0.7, 1.4)]

MAX_LEVEL = 10


class DetectionArchitecture(BaseModel):
    """A complete detector description (JSON round-trip; the backbone in block strings).

    Attributes:
        name: Optional label.
        backbone: The classification architecture whose stages give the feature levels; a preset name is
            accepted on input and expanded. Its ``resolution`` and ``num_classes`` are ignored.
        min_level: Finest feature level (stride ``2**min_level``).
        max_level: Coarsest feature level.
        backbone_max_level: Deepest level taken from the backbone; the levels above it are made by resampling.
        fpn_channels: BiFPN width.
        fpn_repeats: Number of BiFPN layers.
        fpn_weighting: How a node fuses its inputs: ``fast`` (fast normalized fusion), ``softmax`` or ``sum``.
        head_repeats: Separable convs of each head before its prediction conv.
        num_classes: Object classes (90 for the COCO setting of the reference models).
        num_scales: Anchor scales per location (octaves ``2**(i / num_scales)``).
        aspect_ratios: Anchor (width, height) factors.
        anchor_scale: Anchor size in units of the level's stride.
        resolution: Input resolution (square); a multiple of ``2**max_level``.
        act: Activation of the BiFPN and heads.
        redundant_bias: Biases on the convs that are followed by BN (as in the reference checkpoints).
        bn_eps: BatchNorm epsilon of the BiFPN and heads.
        bn_momentum: BatchNorm momentum (PyTorch convention) of the BiFPN and heads.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(None, max_length=200)
    backbone: Architecture
    min_level: int = Field(3, ge=1, le=MAX_LEVEL)
    max_level: int = Field(7, ge=1, le=MAX_LEVEL)
    backbone_max_level: int = Field(5, ge=1, le=MAX_LEVEL)
    fpn_channels: int = Field(64, ge=1, le=MAX_CHANNELS)
    fpn_repeats: int = Field(3, ge=1, le=16)
    fpn_weighting: FpnWeighting = "fast"
    head_repeats: int = Field(3, ge=0, le=16)
    num_classes: int = Field(90, ge=1, le=100_000)
    num_scales: int = Field(3, ge=1, le=8)
    aspect_ratios: list[tuple[float, float]] = Field(
        default_factory=lambda: list(DEFAULT_ASPECT_RATIOS), min_length=1, max_length=16
    )
    anchor_scale: float = Field(4.0, gt=0, le=64)
    resolution: int = Field(512, ge=8, le=4096)
    act: Activation = "swish"
    redundant_bias: bool = True
    bn_eps: float = Field(1e-3, gt=0, lt=1)
    bn_momentum: float = Field(0.01, gt=0, lt=1)

    @field_validator("backbone", mode="before")
    @classmethod
    def _backbone_preset(cls, v: Any) -> Any:
        if isinstance(v, str):
            from nas_service.arch.presets import get_preset

            return get_preset(v)
        return v

    @field_validator("max_level")
    @classmethod
    def _max_above_min(cls, v: int, info: ValidationInfo) -> int:
        lo = info.data.get("min_level")
        if lo is not None and v < lo:
            raise ValueError(f"max_level ({v}) must be at least min_level ({lo})")
        return v

    @field_validator("backbone_max_level")
    @classmethod
    def _backbone_levels(cls, v: int, info: ValidationInfo) -> int:
        lo, hi = info.data.get("min_level"), info.data.get("max_level")
        if lo is not None and hi is not None and not lo <= v <= hi:
            raise ValueError(f"backbone_max_level ({v}) must lie in min_level..max_level ({lo}..{hi})")
        return v

    @field_validator("aspect_ratios")
    @classmethod
    def _positive_ratios(cls, v: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if any(w <= 0 or h <= 0 for w, h in v):
            raise ValueError("aspect ratios must be positive (width, height) pairs")
        return v

    @field_validator("resolution")
    @classmethod
    def _divisible(cls, v: int, info: ValidationInfo) -> int:
        hi = info.data.get("max_level")
        if hi is not None and v % (2**hi):
            raise ValueError(
                f"resolution {v} is not divisible by 2**max_level = {2**hi} (max_level {hi}); "
                f"nearest valid: {max(2**hi, round(v / 2**hi) * 2**hi)}"
            )
        return v

    @model_validator(mode="after")
    def _backbone_has_levels(self) -> DetectionArchitecture:
        backbone_feature_stages(self.backbone, self.min_level, self.backbone_max_level)
        return self

    @property
    def num_levels(self) -> int:
        """Number of feature levels (5 for P3-P7)."""
        return self.max_level - self.min_level + 1

    @property
    def num_anchors(self) -> int:
        """Anchors per location: scales x aspect ratios."""
        return self.num_scales * len(self.aspect_ratios)

    def canonical_json(self) -> str:
        """JSON with sorted keys and no names: equal networks give equal text."""
        data = self.model_dump(mode="json", exclude={"name"})
        data["backbone"].pop("name", None)
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    def arch_hash(self) -> str:
        """A stable hash of the detector (names excluded)."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:32]

    def block_strings(self) -> list[list[str]]:
        """The backbone's block strings per stage, then one stage holding :meth:`summary_string` (trial views)."""
        return [*self.backbone.block_strings(), [self.summary_string()]]

    def summary_string(self) -> str:
        """One line describing the feature network and heads, e.g. ``bifpn_p3.7_c64_r3_fast head_r3_a9_n90``."""
        return (
            f"bifpn_p{self.min_level}.{self.max_level}_c{self.fpn_channels}_r{self.fpn_repeats}_{self.fpn_weighting}"
            f" head_r{self.head_repeats}_a{self.num_anchors}_n{self.num_classes}"
        )


def stage_reductions(backbone: Architecture) -> list[int]:
    """Cumulative stride at the end of each backbone stage (the stem's stride included)."""
    out, reduction = [], backbone.stem.stride
    for stage in backbone.stages:
        for block in stage:
            reduction *= block.stride
        out.append(reduction)
    return out


def backbone_feature_stages(backbone: Architecture, min_level: int, max_level: int) -> list[int]:
    """Index of the stage giving each level ``min_level..max_level``: the last stage at stride ``2**level``.

    Raises:
        ValueError: Starting ``backbone:``, when a level has no stage ending at its stride.
    """
    reductions = stage_reductions(backbone)
    stages = []
    for level in range(min_level, max_level + 1):
        matches = [i for i, r in enumerate(reductions) if r == 2**level]
        if not matches:
            raise ValueError(
                f"backbone: no stage ends at stride {2**level} for feature level P{level} "
                f"(its {len(reductions)} stages end at strides {reductions}); the backbone needs stages down "
                f"to stride {2**max_level} (backbone_max_level {max_level})"
            )
        stages.append(matches[-1])
    return stages


class FpnNode(NamedTuple):
    """One BiFPN node: the level it produces and the offsets of its inputs.

    Offsets ``0..num_levels-1`` are the layer's input features (finest first); offset ``num_levels + j`` is
    node ``j`` of the same layer.
    """

    level: int
    inputs: tuple[int, ...]


def bifpn_nodes(min_level: int, max_level: int) -> list[FpnNode]:
    """The nodes of one BiFPN layer in evaluation order (top-down, then bottom-up).

    The layer's outputs are the last feature of each level: the last ``num_levels`` nodes (the finest level's
    output is its top-down node).
    """
    num_levels = max_level - min_level + 1
    ids = {min_level + i: [i] for i in range(num_levels)}
    nodes: list[FpnNode] = []
    for level in range(max_level - 1, min_level - 1, -1):
        nodes.append(FpnNode(level, (ids[level][-1], ids[level + 1][-1])))
        ids[level].append(num_levels + len(nodes) - 1)
    for level in range(min_level + 1, max_level + 1):
        nodes.append(FpnNode(level, (*ids[level], ids[level - 1][-1])))
        ids[level].append(num_levels + len(nodes) - 1)
    return nodes


@dataclass(frozen=True)
class ResolvedDetection:
    """A detector after resolution: the truncated backbone, where its levels come from, and every width.

    Attributes:
        spec: The architecture.
        backbone: The resolved backbone at ``spec.resolution`` (all blocks; use ``num_backbone_stages``).
        feature_stages: Backbone stage of each level ``min_level..backbone_max_level``.
        feature_channels: Channels of those features.
        num_backbone_stages: Stages kept (up to the deepest feature stage).
        level_sizes: Spatial size of each level ``min_level..max_level``.
        nodes: The nodes of one BiFPN layer.
    """

    spec: DetectionArchitecture
    backbone: ResolvedNetwork
    feature_stages: tuple[int, ...]
    feature_channels: tuple[int, ...]
    num_backbone_stages: int
    level_sizes: tuple[int, ...]
    nodes: tuple[FpnNode, ...]

    @property
    def levels(self) -> list[int]:
        """The feature levels, finest first."""
        return list(range(self.spec.min_level, self.spec.max_level + 1))

    def input_channels(self, layer: int) -> list[int]:
        """Widths of the input features of BiFPN layer ``layer`` (the first takes backbone widths)."""
        c = self.spec.fpn_channels
        if layer > 0:
            return [c] * self.spec.num_levels
        extra = self.spec.max_level - self.spec.backbone_max_level
        return [*self.feature_channels, *([c] * extra)]

    def extra_level_inputs(self) -> list[int]:
        """Input width of the resampling that makes each extra level (above ``backbone_max_level``)."""
        widths, prev = [], self.feature_channels[-1]
        for _ in range(self.spec.max_level - self.spec.backbone_max_level):
            widths.append(prev)
            prev = self.spec.fpn_channels
        return widths


def resolve_detection(spec: DetectionArchitecture, resolution: int | None = None) -> ResolvedDetection:
    """Resolve ``spec`` at ``resolution`` (default ``spec.resolution``; must be a multiple of ``2**max_level``).

    Raises:
        ValueError: Naming ``resolution`` when it is not a multiple of ``2**max_level``.
    """
    size = spec.resolution if resolution is None else resolution
    if size % (2**spec.max_level):
        raise ValueError(f"resolution {size} is not divisible by 2**max_level = {2**spec.max_level}")
    net = resolve_architecture(spec.backbone, size)
    stages = backbone_feature_stages(spec.backbone, spec.min_level, spec.backbone_max_level)
    channels = tuple(next(b for b in reversed(net.blocks) if b.stage == s).out_channels for s in stages)
    return ResolvedDetection(
        spec=spec,
        backbone=net,
        feature_stages=tuple(stages),
        feature_channels=channels,
        num_backbone_stages=stages[-1] + 1,
        level_sizes=tuple(size // 2**lv for lv in range(spec.min_level, spec.max_level + 1)),
        nodes=tuple(bifpn_nodes(spec.min_level, spec.max_level)),
    )
