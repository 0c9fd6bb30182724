"""Architecture specification: a network as data.

An :class:`Architecture` is a stem, a list of stages (each a list of :class:`BlockSpec`, one per block string), a
head and a few global settings. It round-trips losslessly through JSON (``model_dump_json`` /
``model_validate_json``) and through block strings (:meth:`Architecture.block_strings`), which is the form the
database stores and people read. The PyTorch module is made from it by :func:`nas_service.arch.build_model`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: Activation names understood by the builder; the block-string codes are in :mod:`nas_service.arch.blockstr`.
Activation = Literal["relu", "relu6", "swish", "hard_swish", "gelu", "mish", "sigmoid", "identity"]
BlockType = Literal["ds", "ir", "cn"]

MAX_CHANNELS = 8192
MAX_KERNEL = 15
MAX_REPEATS = 32


class BlockSpec(BaseModel):
    """One block string: a block type repeated ``repeats`` times (only the first repeat has ``stride``).

    Attributes:
        type: ``ds`` depthwise-separable, ``ir`` inverted residual (MBConv), ``cn`` conv-bn-act.
        repeats: How many times the block is stacked (before depth scaling).
        kernel_sizes: Depthwise kernel sizes; more than one makes the depthwise conv an MDConv.
        exp_kernel_sizes: Kernel sizes of the 1x1 expansion conv's channel groups (``a1.1`` = two groups).
        pw_kernel_sizes: Kernel sizes of the 1x1 projection conv's channel groups (``p1.1`` = two groups).
        stride: Stride of the first repeat.
        expansion: Expansion ratio of ``ir`` blocks (the hidden width is ``make_divisible(in * expansion)``).
        out_channels: Output channels before width scaling.
        se_ratio: Squeeze-and-excitation ratio, or ``None`` for no SE.
        act: Activation, or ``None`` for the network default.
        skip: ``False`` disables the residual connection (``noskip``); otherwise it is used where shapes allow.
        dilation: Dilation of the depthwise conv.
        exponential_partition: Split MDConv channels exponentially (MixConv paper) instead of equally.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: BlockType
    repeats: int = Field(1, ge=1, le=MAX_REPEATS)
    kernel_sizes: list[int] = Field(default_factory=lambda: [3], min_length=1, max_length=8)
    exp_kernel_sizes: list[int] = Field(default_factory=lambda: [1], min_length=1, max_length=8)
    pw_kernel_sizes: list[int] = Field(default_factory=lambda: [1], min_length=1, max_length=8)
    stride: int = Field(1, ge=1, le=2)
    expansion: float = Field(1.0, gt=0, le=16)
    out_channels: int = Field(..., ge=1, le=MAX_CHANNELS)
    se_ratio: float | None = Field(None, gt=0, le=1)
    act: Activation | None = None
    skip: bool = True
    dilation: int = Field(1, ge=1, le=4)
    exponential_partition: bool = False

    @field_validator("kernel_sizes", "exp_kernel_sizes", "pw_kernel_sizes")
    @classmethod
    def _odd_kernels(cls, v: list[int]) -> list[int]:
        for k in v:
            if k < 1 or k > MAX_KERNEL or k % 2 == 0:
                raise ValueError(f"kernel sizes must be odd integers in 1..{MAX_KERNEL}, got {k}")
        return v

    @property
    def is_mixed(self) -> bool:
        """True when the depthwise conv is an MDConv (several kernel sizes)."""
        return len(self.kernel_sizes) > 1

    def to_string(self) -> str:
        """Encode as a block string (see :mod:`nas_service.arch.blockstr`)."""
        from nas_service.arch.blockstr import encode_block

        return encode_block(self)


class StemSpec(BaseModel):
    """The first conv-bn-act. ``scale=False`` keeps its width fixed under width multipliers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    out_channels: int = Field(32, ge=1, le=MAX_CHANNELS)
    kernel_size: int = Field(3, ge=1, le=MAX_KERNEL)
    stride: int = Field(2, ge=1, le=2)
    act: Activation | None = None
    scale: bool = True


class HeadSpec(BaseModel):
    """The classifier head.

    ``conv_bn_act``: 1x1 conv + BN + act, global pool, dropout, linear (EfficientNet, MnasNet, MixNet, MobileNetV2).
    ``pool_conv_act``: global pool, 1x1 conv with bias + act, dropout, linear (MobileNetV3). ``num_features=0``
    drops the head conv (pool straight into the classifier).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["conv_bn_act", "pool_conv_act"] = "conv_bn_act"
    num_features: int = Field(1280, ge=0, le=MAX_CHANNELS)
    act: Activation | None = None
    scale: bool = True


class Architecture(BaseModel):
    """A complete network description.

    Attributes:
        name: Optional label (a preset name, a trial id).
        stages: Stages of blocks; depth scaling acts per stage.
        stem: The stem conv.
        head: The head.
        num_classes: Classifier outputs.
        in_channels: Input image channels.
        resolution: Input resolution the architecture is meant for (square).
        width_multiplier: Channel multiplier, rounded with ``make_divisible(8)`` (never below 90% of the target).
        depth_multiplier: Repeat multiplier per stage (``ceil`` of the stage total, or ``round``).
        depth_trunc: How scaled repeats are truncated.
        dropout: Dropout before the classifier.
        drop_path: Stochastic-depth rate (scaled linearly over blocks).
        act: Default activation of blocks, stem and head.
        se_from_expanded: MobileNetV3 SE convention (reduce width from the expanded channels, rounded by
            ``make_divisible(8)``); ``False`` is the EfficientNet/MnasNet/MixNet convention (from input channels).
        se_gate: Gate of the SE block.
        se_act: Activation inside SE, or ``None`` for the block's own activation.
        bn_eps: BatchNorm epsilon.
        bn_momentum: BatchNorm momentum (PyTorch convention).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(None, max_length=200)
    stages: list[list[BlockSpec]] = Field(..., min_length=1, max_length=16)
    stem: StemSpec = Field(default_factory=StemSpec)
    head: HeadSpec = Field(default_factory=HeadSpec)
    num_classes: int = Field(1000, ge=1, le=100_000)
    in_channels: int = Field(3, ge=1, le=64)
    resolution: int = Field(224, ge=8, le=2048)
    width_multiplier: float = Field(1.0, gt=0, le=8)
    depth_multiplier: float = Field(1.0, gt=0, le=8)
    depth_trunc: Literal["ceil", "round"] = "ceil"
    dropout: float = Field(0.2, ge=0, lt=1)
    drop_path: float = Field(0.0, ge=0, lt=1)
    act: Activation = "swish"
    se_from_expanded: bool = False
    se_gate: Literal["sigmoid", "hard_sigmoid"] = "sigmoid"
    se_act: Activation | None = None
    bn_eps: float = Field(1e-5, gt=0, lt=1)
    bn_momentum: float = Field(0.1, gt=0, lt=1)

    @model_validator(mode="after")
    def _stages_not_empty(self) -> Architecture:
        for i, stage in enumerate(self.stages):
            if not stage:
                raise ValueError(f"stages[{i}] is empty")
        return self

    @classmethod
    def from_block_strings(cls, stages: list[list[str]], **kwargs: object) -> Architecture:
        """Build from timm-style block strings, one list per stage; other fields by keyword."""
        from nas_service.arch.blockstr import decode_stages

        return cls(stages=decode_stages(stages), **kwargs)  # type: ignore[arg-type]

    def block_strings(self) -> list[list[str]]:
        """The stages as block strings."""
        return [[b.to_string() for b in stage] for stage in self.stages]

    def canonical_json(self) -> str:
        """JSON with sorted keys and no name: equal networks give equal text."""
        data = self.model_dump(mode="json", exclude={"name"})
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    def arch_hash(self) -> str:
        """A stable hash of the network *as built*, for caches and de-duplication.

        It is computed from :func:`~nas_service.arch.resolve.resolve_architecture` (every layer's channels,
        kernels, strides, SE width and activation after width/depth scaling and rounding, at ``resolution``),
        not from the fields that produced it: two descriptions that build the same layers (a depth multiplier of
        1.4 or 2.0 that both round one repeat up to two, a resolution factor that rounds back to the same size)
        share a hash, so the second is a ``duplicate`` rather than trained again. The name is ignored. An
        architecture the builder cannot make falls back to its :meth:`canonical_json`.
        """
        from nas_service.arch.resolve import resolve_architecture

        try:
            built = dataclasses.asdict(resolve_architecture(self))
        except ValueError:
            return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:32]
        text = json.dumps(built, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:32]
