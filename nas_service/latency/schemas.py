"""API schemas of latency targets and predictions (``XCreate`` / ``XPublic``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from nas_service.arch.spec import Architecture
from nas_service.latency.targets import LatencyTarget

__all__ = ["LatencyPredictRequest", "LatencyPredictionPublic", "LatencyTargetPublic", "PredictorPublic"]


class LatencyTargetPublic(LatencyTarget):
    """A target as the API shows it."""

    builtin: bool = False  # type: ignore[assignment]
    owner: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class LatencyPredictRequest(BaseModel):
    """``POST /latency/targets/{name}/predict``: the network (preset, block strings or an Architecture)."""

    model_config = ConfigDict(extra="forbid")

    architecture: str | list[list[str]] | Architecture = Field(
        ..., description="a preset name, block strings (stages of blocks) or an Architecture"
    )
    resolution: int | None = Field(None, ge=8, le=1024)


class LatencyPredictionPublic(BaseModel):
    """A predicted latency on a target."""

    target: str
    predicted_ms: float
    uncertainty_ms: float
    table_ms: float
    missing_parts: int
    macs: int


class PredictorPublic(BaseModel):
    """What a target's predictor knows and how accurate it was."""

    target: str
    table_entries: int
    networks: int
    fitted: bool
    rel_uncertainty: float
    accuracy: dict[str, Any] = Field(default_factory=dict)
    online: dict[str, Any] = Field(default_factory=dict)
