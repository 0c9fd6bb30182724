"""The REST API's request and reply models (``XCreate`` in, ``XPublic`` out), shared with the SDK.

Pure pydantic: no FastAPI import, so the SDK can use them without the server stack. Every input is capped
(string lengths, list sizes, JSON document size, numeric ranges) so a request cannot make the server do
unbounded work. Error replies all have the shape :class:`ErrorResponse`: ``{"error": {"code", "message", "field"?}}``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from nas_service.jobspec import (
    JobSpec,
    JobState,
    LatencyMeasurement,
    TrialState,
)

T = TypeVar("T")

#: Largest accepted search-space document (serialized JSON), in bytes.
MAX_SPACE_BYTES = 256 * 1024
#: Largest page size of any listing.
MAX_PAGE = 500
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._\-]*$"


def _check_document(value: dict[str, Any], what: str) -> dict[str, Any]:
    if len(json.dumps(value, default=str)) > MAX_SPACE_BYTES:
        raise ValueError(f"{what} is larger than {MAX_SPACE_BYTES} bytes")
    return value


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# ---------------------------------------------------------------------------- errors and pages
class ErrorDetail(BaseModel):
    """What went wrong: a stable ``code``, a ``message`` and, for validation errors, the ``field`` path."""

    code: str
    message: str
    field: str | None = None


class ErrorResponse(BaseModel):
    """The body of every 4xx/5xx reply."""

    error: ErrorDetail


class Page(BaseModel, Generic[T]):
    """One page of a listing; ``total`` counts every match of the filter."""

    items: list[T]
    total: int
    limit: int
    offset: int


# ---------------------------------------------------------------------------- spaces
class SpaceCreate(_In):
    """A search space to store: a name and the space document (``space``; ``definition`` is accepted too)."""

    name: str = Field(..., min_length=1, max_length=200, pattern=NAME_PATTERN)
    space: dict[str, Any] = Field(..., validation_alias=AliasChoices("space", "definition"))

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, populate_by_name=True)

    @field_validator("space")
    @classmethod
    def _capped(cls, v: dict[str, Any]) -> dict[str, Any]:
        return _check_document(v, "the space")


class SpacePublic(_Out):
    """A stored search space."""

    id: int
    name: str
    version: int
    owner: str
    space: dict[str, Any]
    log10_cardinality: float | None = None
    archived: bool = False
    created_at: datetime


class SpaceError(BaseModel):
    """One problem of a space document."""

    field: str
    message: str


class SpaceValidation(BaseModel):
    """The result of a dry-run validation; ``cardinality`` is a string when it exceeds 2**53."""

    valid: bool
    log10_cardinality: float | None = None
    cardinality: int | str | None = None
    errors: list[SpaceError] = Field(default_factory=list)


# ---------------------------------------------------------------------------- jobs
class JobCreate(JobSpec):
    """A job to queue: every :class:`~nas_service.jobspec.JobSpec` field plus where the space comes from.

    Give exactly one of ``space_id`` (a stored space) or ``space`` (an inline document, or the name of a
    preset space); a ``scaling`` job may give neither. A nested ``{"spec": {...}, "space_id": ...}`` body is accepted
    as well and flattened.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    space_id: int | None = Field(None, ge=1, le=2**31 - 1)
    space: dict[str, Any] | str | None = None

    @model_validator(mode="before")
    @classmethod
    def _flatten_spec(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("spec"), dict):
            data = {**data["spec"], **{k: v for k, v in data.items() if k != "spec"}}
        return data

    @field_validator("space")
    @classmethod
    def _space_capped(cls, v: dict[str, Any] | str | None) -> dict[str, Any] | str | None:
        if isinstance(v, str) and not 0 < len(v) <= 200:
            raise ValueError("a preset space name has 1 to 200 characters")
        return _check_document(v, "the space") if isinstance(v, dict) else v

    @model_validator(mode="after")
    def _one_space(self) -> JobCreate:
        if self.space_id is not None and self.space is not None:
            raise ValueError("give either 'space_id' or 'space', not both")
        if self.task == "detection":
            if self.space_id is not None or self.space is not None:
                raise ValueError("a detection job names its space in 'detection.space', not 'space'/'space_id'")
        elif self.space_id is None and self.space is None and self.kind != "scaling":
            raise ValueError("a search job needs 'space_id' or an inline 'space'")
        return self

    def to_spec(self) -> JobSpec:
        """The :class:`JobSpec` part of the request."""
        return JobSpec.model_validate(self.model_dump(exclude={"space_id", "space"}))


class JobCounters(BaseModel):
    """How many trials a job has created and how they ended."""

    total: int = 0
    completed: int = 0
    pruned: int = 0
    failed: int = 0


class JobPublic(_Out):
    """A job as the API shows it."""

    id: int
    name: str
    owner: str
    state: JobState
    kind: str
    space_id: int | None = None
    spec: JobSpec
    counters: JobCounters
    best_reward: float | None = None
    best_trial_id: int | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None


# ---------------------------------------------------------------------------- trials
class EpochPublic(_Out):
    """One epoch report of a trial."""

    epoch: int
    val_accuracy: float
    train_loss: float | None = None
    elapsed_s: float | None = None
    #: The trial's attempt that trained it (a retried trial reports its epochs again from 1).
    attempt: int | None = None


class TrialPublic(_Out):
    """A trial as listings show it (no per-epoch metrics or latency samples)."""

    id: int
    job_id: int
    number: int
    state: TrialState
    params: dict[str, Any] = Field(default_factory=dict)
    block_strings: list[list[str]] | None = None
    architecture: dict[str, Any] | None = None
    arch_hash: str | None = None
    params_count: int | None = None
    macs: int | None = None
    accuracy: float | None = None
    latency_ms: float | None = None
    latency_p90_ms: float | None = None
    reward: float | None = None
    attempts: int = 0
    worker: str | None = None
    node: str | None = None
    device: str | None = None
    epochs_run: int = 0
    on_front: bool = False
    epochs: list[EpochPublic] | None = None
    #: The latest epoch report of a trial that is still training (running or stale; its current attempt), in
    #: ``GET /trials/{id}``, trial listings and the event stream's ``trial`` events: with the job's
    #: ``spec.proxy.epochs`` a client shows "epoch 2/3, val acc 0.91".
    last_epoch: EpochPublic | None = None
    error: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class TrialDetail(TrialPublic):
    """One trial with its per-epoch metrics and its latency measurement (samples included)."""

    latency: LatencyMeasurement | None = None


# ---------------------------------------------------------------------------- results
class ReferencePoint(BaseModel):
    """The hypervolume reference point (accuracy floor, latency ceiling)."""

    accuracy: float
    latency_ms: float


class TrialPoint(BaseModel):
    """A compact trial summary for fronts and rankings."""

    trial_id: int
    number: int
    accuracy: float | None = None
    latency_ms: float | None = None
    reward: float | None = None
    params: int | None = None
    macs: int | None = None
    block_strings: list[list[str]] | None = None


class ParetoPublic(BaseModel):
    """A job's Pareto front (accuracy max, latency min) with rewards under the given reward settings.

    ``reference`` is accuracy 0 and latency ``max(2 * target_ms, 1.1 * the largest front latency)``.
    """

    job_id: int
    target_ms: float
    alpha: float
    beta: float
    reference: ReferencePoint
    hypervolume: float
    points: list[TrialPoint]


class BestPublic(BaseModel):
    """The ``k`` best completed trials by reward under the given reward settings."""

    job_id: int
    target_ms: float
    alpha: float
    beta: float
    k: int
    trials: list[TrialPoint]


class ScalingPublic(BaseModel):
    """A compound-scaling job's result: the step-1 coefficient grid and the phi family (EfficientNet's two steps).

    Rows carry phi, alpha, beta, gamma, the depth/width/resolution multipliers, resolution, accuracy, latency_ms,
    params, macs, reward and state (``planned``/``pending`` until trained).
    """

    job_id: int
    chosen: dict[str, float] | None
    note: str | None
    grid: list[dict[str, Any]]
    family: list[dict[str, Any]]


# ---------------------------------------------------------------------------- tokens
class TokenPublic(_Out):
    """An API token; ``token`` (the secret) is only present in the reply that created it."""

    id: int
    owner: str
    scope: Literal["user", "admin"]
    prefix: str
    name: str | None = None
    created_at: datetime
    last_used_at: datetime | None = None
    revoked: bool = False
    token: str | None = None


# ---------------------------------------------------------------------------- ops
class HealthPublic(BaseModel):
    """Liveness/readiness reply."""

    status: Literal["ok", "unavailable"]
    detail: str | None = None
    schema_revision: str | None = None
    head_revision: str | None = None


__all__ = [
    "BestPublic",
    "EpochPublic",
    "ErrorDetail",
    "ErrorResponse",
    "HealthPublic",
    "JobCounters",
    "JobCreate",
    "JobPublic",
    "Page",
    "ParetoPublic",
    "ReferencePoint",
    "SpaceCreate",
    "SpaceError",
    "SpacePublic",
    "SpaceValidation",
    "TokenPublic",
    "TrialDetail",
    "TrialPoint",
    "TrialPublic",
    "ScalingPublic",
]
