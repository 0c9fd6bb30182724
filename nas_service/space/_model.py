"""The search-space language: a skeleton network plus, per stage, lists of choices.

A :class:`SearchSpace` is a factorized, MnasNet-style space: every stage makes its own independent choices
(operation, kernel, expansion, SE, depth, width, activation, skip), and a few global choices (input
resolution, stem stride, compound-scaling ``phi``) apply to the whole network. A field with a single choice is
fixed.

The space is data: it round-trips losslessly through JSON (:meth:`SearchSpace.to_json` /
:meth:`SearchSpace.from_json`) and can be written in YAML (:meth:`SearchSpace.from_yaml`). Every value is
checked against caps; errors are :class:`SpaceValidationError` naming the field path (``stages[2].kernels``).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from nas_service.arch.scaling import make_divisible
from nas_service.arch.spec import Activation, Architecture, HeadSpec, StemSpec
from nas_service.space._errors import SpaceValidationError, from_pydantic

Op = Literal["mbconv", "mdconv", "ds", "conv"]
Partition = Literal["equal", "exponential"]
#: Stage activation choices: ``default`` inherits the skeleton's activation; the others have block-string
#: codes.
StageActivation = Literal["default", "relu", "relu6", "swish", "hard_swish", "gelu", "mish"]

MAX_STAGES = 16
MAX_CHOICES_PER_FIELD = 16
MAX_TOTAL_CHOICES = 512
MAX_STAGE_CHANNELS = 4096
MAX_TOTAL_LAYERS = 128
MIN_RESOLUTION = 8
MAX_RESOLUTION = 1024
MAX_KERNEL = 15
MAX_MIXED_SET = 8
MAX_PHI = 8
CHANNEL_DIVISOR = 8

KERNEL_OPS: frozenset[str] = frozenset({"mbconv", "ds", "conv"})
EXPANSION_OPS: frozenset[str] = frozenset({"mbconv", "mdconv"})
SE_OPS: frozenset[str] = frozenset({"mbconv", "mdconv", "ds"})


def _default_ops() -> list[Op]:
    return ["mbconv"]


def _default_partition() -> list[Partition]:
    return ["equal"]


def _default_activations() -> list[StageActivation]:
    return ["default"]


def _default_stem() -> StemSpec:
    return StemSpec.model_validate({})


def _default_head() -> HeadSpec:
    return HeadSpec.model_validate({})


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StageChoices(_Frozen):
    """One stage: fixed base settings and the choices searched for it.

    The stage becomes one block string (a block repeated ``repeats + repeat_delta`` times, only the first with
    ``stride``). ``mbconv`` and ``mdconv`` become ``ir`` blocks (``mdconv`` with a mixed kernel list
    ``k3.5.7``), ``ds`` a depthwise-separable block, ``conv`` a ``cn`` conv-bn-act.

    Attributes:
        out_channels: Base output channels (before the width choice and the network width multiplier).
        repeats: Base number of blocks; ``repeats + min(repeat_deltas)`` must be at least 1.
        stride: Stride of the stage's first block.
        ops: Operation choices.
        kernels: Depthwise kernel sizes for ``mbconv``, ``ds`` and ``conv`` (odd).
        mixed_kernels: Kernel sets for ``mdconv`` (required when it is an op), e.g. ``[[3, 5], [3, 5, 7]]``.
        partition: MDConv channel partition choices (only matters for sets of 2+ kernels).
        expansions: Expansion ratios of ``mbconv``/``mdconv``.
        se_ratios: Squeeze-and-excitation ratios; 0 means no SE (``conv`` never has SE).
        repeat_deltas: Added to ``repeats``.
        width_multipliers: Applied to ``out_channels`` and rounded to a multiple of 8.
        activations: Activation choices (``default`` = the skeleton's).
        skip: Residual connection choices (``[True]`` or ``[True, False]``).
    """

    out_channels: int = Field(..., ge=1, le=MAX_STAGE_CHANNELS)
    repeats: int = Field(default=1, ge=1, le=32)
    stride: int = Field(default=1, ge=1, le=2)
    ops: list[Op] = Field(default_factory=_default_ops)
    kernels: list[int] = Field(default_factory=lambda: [3])
    mixed_kernels: list[list[int]] | None = None
    partition: list[Partition] = Field(default_factory=_default_partition)
    expansions: list[float] = Field(default_factory=lambda: [6.0])
    se_ratios: list[float] = Field(default_factory=lambda: [0.0])
    repeat_deltas: list[int] = Field(default_factory=lambda: [0])
    width_multipliers: list[float] = Field(default_factory=lambda: [1.0])
    activations: list[StageActivation] = Field(default_factory=_default_activations)
    skip: list[bool] = Field(default_factory=lambda: [True])

    def channels(self, width: float) -> int:
        """Channels for a width choice: ``make_divisible(out_channels * width, 8)``; x1.0 keeps them."""
        # As the builder does for the network multiplier: exactly 1.0 leaves hand-written widths alone.
        if width == 1.0:
            return self.out_channels
        return make_divisible(self.out_channels * width, CHANNEL_DIVISOR)

    def choice_lists(self) -> dict[str, list[Any]]:
        """The choice fields of this stage by field name (``mixed_kernels`` as given, possibly ``None``)."""
        return {
            "ops": list(self.ops),
            "kernels": list(self.kernels),
            "mixed_kernels": list(self.mixed_kernels or []),
            "partition": list(self.partition),
            "expansions": list(self.expansions),
            "se_ratios": list(self.se_ratios),
            "repeat_deltas": list(self.repeat_deltas),
            "width_multipliers": list(self.width_multipliers),
            "activations": list(self.activations),
            "skip": list(self.skip),
        }


class SkeletonSpec(_Frozen):
    """The fixed part of every network of the space.

    Attributes:
        stem: The stem conv (its stride is replaced by the ``stem_strides`` choice when that is given).
        head: The classifier head.
        act: Default activation of stem, blocks and head.
        se_from_expanded: MobileNetV3 SE convention (see :class:`nas_service.arch.Architecture`).
        se_gate: Gate of the SE blocks.
        num_classes: Classifier outputs.
        in_channels: Input image channels.
        dropout: Dropout before the classifier.
        drop_path: Stochastic-depth rate.
    """

    stem: StemSpec = Field(default_factory=_default_stem)
    head: HeadSpec = Field(default_factory=_default_head)
    act: Activation = "swish"
    se_from_expanded: bool = False
    se_gate: Literal["sigmoid", "hard_sigmoid"] = "sigmoid"
    num_classes: int = Field(default=1000, ge=1, le=100_000)
    in_channels: int = Field(default=3, ge=1, le=64)
    dropout: float = Field(default=0.2, ge=0, lt=1)
    drop_path: float = Field(default=0.0, ge=0, lt=1)


class CompoundCoefficients(_Frozen):
    """EfficientNet compound scaling: depth ``alpha**phi``, width ``beta**phi``, resolution ``gamma**phi``."""

    alpha: float = Field(default=1.2, ge=1, le=2)
    beta: float = Field(default=1.1, ge=1, le=2)
    gamma: float = Field(default=1.15, ge=1, le=2)


class SearchSpace(_Frozen):
    """A factorized search space (see the module docstring and :mod:`nas_service.space`).

    Attributes:
        name: Short identifier (letters, digits, ``_.-``).
        version: Free-form version label of the space definition.
        description: One or two sentences for people.
        skeleton: The fixed network parts.
        stages: Per-stage base settings and choices.
        resolutions: Input resolution choices (before compound scaling).
        stem_strides: Stem stride choices; ``None`` keeps ``skeleton.stem.stride``.
        phis: Compound-scaling ``phi`` choices (0 = unscaled).
        compound: The compound-scaling coefficients.
    """

    name: str = Field(..., min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-]+$")
    version: str = Field(default="1", max_length=40)
    description: str = Field(default="", max_length=2000)
    skeleton: SkeletonSpec = Field(default_factory=lambda: SkeletonSpec.model_validate({}))
    stages: list[StageChoices] = Field(..., min_length=1, max_length=MAX_STAGES)
    resolutions: list[int] = Field(default_factory=lambda: [224])
    stem_strides: list[int] | None = None
    phis: list[int] = Field(default_factory=lambda: [0])
    compound: CompoundCoefficients = Field(default_factory=lambda: CompoundCoefficients.model_validate({}))

    @model_validator(mode="after")
    def _check(self) -> SearchSpace:
        from nas_service.space._validate import check_space

        check_space(self)
        return self

    # ---- loading and saving --------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Any) -> SearchSpace:
        """Validate a plain mapping.

        Raises:
            SpaceValidationError: Naming the first offending field.
        """
        if not isinstance(data, dict):
            raise SpaceValidationError("", f"a search space must be a mapping, got {type(data).__name__}")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise from_pydantic(exc) from None

    @classmethod
    def from_json(cls, text: str | bytes) -> SearchSpace:
        """Parse JSON text (the lossless form written by :meth:`to_json`).

        Raises:
            SpaceValidationError: Malformed JSON or an invalid field (named).
        """
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpaceValidationError("", f"invalid JSON: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def from_yaml(cls, text: str) -> SearchSpace:
        """Parse YAML text (same fields as JSON).

        Raises:
            SpaceValidationError: Malformed YAML or an invalid field (named).
        """
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SpaceValidationError("", f"invalid YAML: {' '.join(str(exc).split())}") from None
        return cls.from_dict(data)

    @classmethod
    def from_file(cls, path: str | Path) -> SearchSpace:
        """Load a ``.json`` file, or YAML for any other suffix.

        Raises:
            SpaceValidationError: Unreadable file, malformed text or an invalid field.
        """
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SpaceValidationError("", f"cannot read {p}: {exc}") from None
        if p.suffix.lower() == ".json":
            return cls.from_json(text)
        return cls.from_yaml(text)

    def to_json(self, indent: int | None = None) -> str:
        """JSON text; ``SearchSpace.from_json(space.to_json()) == space``."""
        return self.model_dump_json(indent=indent)

    def to_yaml(self) -> str:
        """YAML text with the same content as :meth:`to_json`."""
        import yaml

        data = self.model_dump(mode="json")
        return yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100)

    # ---- the space as parameters ---------------------------------------------------------------------------

    def parameters(self) -> dict[str, list[Any]]:
        """Flat categorical distributions, in a stable order (see :mod:`nas_service.space` for the names)."""
        from nas_service.space._codec import parameters

        return parameters(self)

    def active(self, params: dict[str, Any]) -> list[str]:
        """Names of the parameters that matter for ``params`` (the others are ignored by :meth:`decode`)."""
        from nas_service.space._codec import active_names

        return active_names(self, params)

    def canonicalize(self, params: dict[str, Any]) -> dict[str, Any]:
        """Complete ``params``, inactive parameters set to their first choice (equal networks, equal params).

        Raises:
            SpaceValidationError: An unknown name, or a value that is not one of the choices.
        """
        from nas_service.space._codec import canonicalize

        return canonicalize(self, params)

    def decode(self, params: dict[str, Any]) -> Architecture:
        """The network of a parameter assignment (inactive and single-choice parameters may be left out).

        Raises:
            SpaceValidationError: Unknown or missing names, or values not among the choices (naming the
                parameter).
        """
        from nas_service.space._codec import decode

        return decode(self, params)

    def encode(self, arch: Architecture) -> dict[str, Any]:
        """The canonical parameters of a network of this space: ``decode(encode(a)) == a`` (name aside).

        Raises:
            SpaceValidationError: ``arch`` is not in this space; the field says where it differs.
        """
        from nas_service.space._codec import encode

        return encode(self, arch)

    def cardinality(self) -> int:
        """Exact number of distinct networks (canonical parameter assignments)."""
        from nas_service.space._codec import cardinality

        return cardinality(self)

    def log10_cardinality(self) -> float:
        """``log10`` of :meth:`cardinality`."""
        return math.log10(self.cardinality())

    def raw_cardinality(self) -> int:
        """Product of the sizes of all parameter lists (counts inactive parameters too)."""
        return math.prod(len(v) for v in self.parameters().values())

    # ---- exploring -----------------------------------------------------------------------------------------

    def sample(self, rng: random.Random | int | None = None) -> dict[str, Any]:
        """A uniformly drawn, canonical parameter assignment (seeded by an int or a ``random.Random``)."""
        from nas_service.space._explore import sample

        return sample(self, rng)

    def mutate(
        self, params: dict[str, Any], rng: random.Random | int | None = None, n_mutations: int = 1
    ) -> dict[str, Any]:
        """Change exactly ``n_mutations`` active parameters to other values; the result is canonical.

        Raises:
            ValueError: ``n_mutations`` is below 1 or more than the space can change at once.
        """
        from nas_service.space._explore import mutate

        return mutate(self, params, rng, n_mutations)

    def neighbors(self, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every canonical assignment that differs from ``params`` in exactly one active parameter."""
        from nas_service.space._explore import neighbors

        return neighbors(self, params)

    def grid(self, max_points: int | None = None) -> Iterator[dict[str, Any]]:
        """Every canonical assignment once, in a stable order (for grid search of small spaces).

        Raises:
            ValueError: The cardinality is over ``max_points``.
        """
        from nas_service.space._explore import grid

        return grid(self, max_points)

    def vector_spec(self) -> list[tuple[str, int]]:
        """``(name, number of choices)`` of every parameter, in :meth:`parameters` order (for RL policies)."""
        return [(k, len(v)) for k, v in self.parameters().items()]

    def to_vector(self, params: dict[str, Any]) -> list[int]:
        """Choice indices of the canonical form of ``params``, in :meth:`vector_spec` order."""
        from nas_service.space._explore import to_vector

        return to_vector(self, params)

    def from_vector(self, vector: list[int]) -> dict[str, Any]:
        """The canonical parameters of a vector of choice indices.

        Raises:
            SpaceValidationError: Wrong length or an index out of range (naming the parameter).
        """
        from nas_service.space._explore import from_vector

        return from_vector(self, vector)
