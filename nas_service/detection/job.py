"""A detection job's settings (``JobSpec.detection``), its named search spaces and its scaling family (no torch).

A job with ``task: detection`` trains every candidate on the detection proxy (:class:`DetectionProxyConfig`)
and scores it by mAP@[.5:.95]. A *search* explores a :class:`~nas_service.detection.space.DetectionSearchSpace`
(a registered name such as ``detection-shapes``, or an inline document); a *scaling* job trains the compound-
scaled family ``phi -> D<phi>`` (:class:`DetectionScalingConfig`). Everything that can be checked before the job
runs is checked here, so a bad job is a 422 naming the field at submit time.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from nas_service.arch.detection import DetectionArchitecture
from nas_service.detection.config import DetectionProxyConfig
from nas_service.detection.space import DetectionSearchSpace, shapes_detection_space

__all__ = [
    "DETECTION_SPACES",
    "DetectionJobConfig",
    "DetectionScalingConfig",
    "DetectionScalingSpace",
    "get_detection_space",
    "trained_resolution",
]

#: Registered detection search spaces a job can name in ``detection.space``.
DETECTION_SPACES: dict[str, Callable[[], DetectionSearchSpace]] = {"detection-shapes": shapes_detection_space}


def get_detection_space(name: str) -> DetectionSearchSpace:
    """The registered detection space ``name``.

    Raises:
        KeyError: Unknown name (the message lists the registered ones).
    """
    if name not in DETECTION_SPACES:
        raise KeyError(f"unknown detection space {name!r}; registered: {sorted(DETECTION_SPACES)}")
    return DETECTION_SPACES[name]()


def trained_resolution(resolution: int, base_resolution: int, proxy_resolution: int, max_level: int) -> int:
    """The proxy resolution of a scaled detector: ``proxy * resolution / base`` to a multiple of ``2**max_level``.

    The family keeps its resolution ratios (D1 trains at 1.25x D0's proxy resolution) at proxy cost.
    """
    step = 2**max_level
    return max(step, math.floor(proxy_resolution * resolution / base_resolution / step + 0.5) * step)


class DetectionScalingConfig(BaseModel):
    """EfficientDet compound scaling: one ``phi`` scales backbone, BiFPN width/depth, head depth and resolution.

    Attributes:
        rule: ``table`` (the stored D-table: ``phi`` 0..7 gives EfficientDet-D``phi``) or ``formula`` (the
            paper's formulas applied to ``base``: width ``W0 * 1.35**phi``, depth ``D0 + phi``, head depth
            ``H0 + floor(phi / 3)``, resolution ``R0 * (1 + phi / 4)``).
        base: The detector the formula rule scales: an ``efficientdet_d<k>`` preset name or a detector
            document (required by ``formula``; ``table`` uses D0..D7 and ignores it).
        phis: The family to train, in order.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: Literal["table", "formula"] = "table"
    base: DetectionArchitecture | None = None
    phis: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1, max_length=12)

    @field_validator("base", mode="before")
    @classmethod
    def _base_preset(cls, v: Any) -> Any:
        if isinstance(v, str):
            from nas_service.arch.detection_presets import EFFICIENTDET_VARIANTS, efficientdet

            key = v.removeprefix("efficientdet_")
            if key not in EFFICIENTDET_VARIANTS:
                raise ValueError(f"unknown detector preset {v!r}; use efficientdet_d0 ... efficientdet_d7x")
            return efficientdet(key)
        return v

    @field_validator("phis")
    @classmethod
    def _phis_in_range(cls, v: list[int], info: ValidationInfo) -> list[int]:
        top = 7 if info.data.get("rule") == "table" else 16
        bad = [p for p in v if not 0 <= p <= top]
        if bad:
            raise ValueError(f"phi {bad[0]} is outside 0..{top} (the {info.data.get('rule')} rule)")
        if len(set(v)) != len(v):
            raise ValueError("each phi at most once")
        return v

    @model_validator(mode="after")
    def _formula_needs_base(self) -> DetectionScalingConfig:
        if self.rule == "formula" and self.base is None:
            raise ValueError("base: the formula rule scales a base detector; give a preset name or a detector")
        return self

    def network(self, phi: int) -> DetectionArchitecture:
        """The full-size detector at ``phi`` under this rule."""
        from nas_service.arch.detection_scaling import efficientdet_for_phi, scale_detection

        if self.rule == "table":
            return efficientdet_for_phi(phi)
        assert self.base is not None
        return scale_detection(self.base, phi)

    def base_network(self) -> DetectionArchitecture:
        """The ``phi = 0`` detector (whose resolution the proxy resolution stands for)."""
        return self.network(0)


class DetectionJobConfig(BaseModel):
    """``JobSpec.detection``: the proxy task and where candidates come from.

    Attributes:
        space: A registered detection space's name (:data:`DETECTION_SPACES`) or an inline
            :class:`~nas_service.detection.space.DetectionSearchSpace` document (search jobs).
        proxy: The detection proxy task every candidate is trained on (its ``resolution`` must be a multiple of
            ``2**max_level`` of the space's detectors; for scaling it stands for the ``phi = 0`` resolution).
        scaling: The compound-scaling family (scaling jobs).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    space: str | DetectionSearchSpace = Field("detection-shapes")
    scaling: DetectionScalingConfig | None = None
    proxy: DetectionProxyConfig = Field(default_factory=DetectionProxyConfig)

    @field_validator("space", mode="before")
    @classmethod
    def _known_space(cls, v: Any) -> Any:
        if isinstance(v, str) and v not in DETECTION_SPACES:
            raise ValueError(f"unknown detection space {v!r}; registered: {sorted(DETECTION_SPACES)}")
        return v

    @field_validator("proxy")
    @classmethod
    def _resolution_fits(cls, v: DetectionProxyConfig, info: ValidationInfo) -> DetectionProxyConfig:
        levels: list[int] = []
        space = info.data.get("space")
        if isinstance(space, DetectionSearchSpace):
            levels.append(space.template.max_level)
        elif isinstance(space, str):
            levels.append(get_detection_space(space).template.max_level)
        scaling = info.data.get("scaling")
        if isinstance(scaling, DetectionScalingConfig):
            levels.append(scaling.base_network().max_level)
        for level in levels:
            if v.resolution % 2**level:
                nearest = max(2**level, round(v.resolution / 2**level) * 2**level)
                raise ValueError(
                    f"resolution {v.resolution} is not divisible by 2**max_level = {2**level} (max_level {level}); "
                    f"nearest valid: {nearest}"
                )
        return v

    def search_space(self) -> DetectionSearchSpace:
        """The search space the job names or holds."""
        return get_detection_space(self.space) if isinstance(self.space, str) else self.space


class DetectionScalingSpace:
    """The scaling family as a one-parameter space (``phi``) the ``grid`` strategy walks in order.

    ``decode`` gives the detector at ``phi`` with its proxy resolution (:func:`trained_resolution`): the
    network as trained, apart from the data's classes.
    """

    def __init__(self, scaling: DetectionScalingConfig, proxy_resolution: int) -> None:
        """Args: scaling: the family; proxy_resolution: what the ``phi = 0`` resolution trains at."""
        self.scaling = scaling
        self.proxy_resolution = proxy_resolution
        self._base_resolution = scaling.base_network().resolution

    def parameters(self) -> dict[str, list[Any]]:
        """``{"phi": phis}``."""
        return {"phi": list(self.scaling.phis)}

    def decode(self, params: dict[str, Any]) -> DetectionArchitecture:
        """The detector at ``params["phi"]`` at its proxy resolution."""
        net = self.scaling.network(int(params["phi"]))
        res = trained_resolution(net.resolution, self._base_resolution, self.proxy_resolution, net.max_level)
        return net.model_copy(update={"resolution": res})

    def canonicalize(self, params: dict[str, Any]) -> dict[str, Any]:
        """``{"phi": int}``."""
        return {"phi": int(params["phi"])}

    def sample(self, rng: random.Random | int | None = None) -> dict[str, Any]:
        """A random ``phi`` of the family."""
        r = rng if isinstance(rng, random.Random) else random.Random(rng)
        return {"phi": r.choice(self.scaling.phis)}

    def mutate(
        self, params: dict[str, Any], rng: random.Random | int | None = None, n_mutations: int = 1
    ) -> dict[str, Any]:
        """Another ``phi`` of the family."""
        r = rng if isinstance(rng, random.Random) else random.Random(rng)
        others = [p for p in self.scaling.phis if p != params.get("phi")] or list(self.scaling.phis)
        return {"phi": r.choice(others)}

    def cardinality(self) -> int:
        """The number of ``phi`` values."""
        return len(self.scaling.phis)

    def grid(self, max_points: int | None = None) -> Iterator[dict[str, Any]]:
        """Every ``phi`` in the order given."""
        return iter([{"phi": p} for p in self.scaling.phis])
