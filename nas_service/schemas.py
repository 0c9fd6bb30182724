"""The REST API's request and reply models (``XCreate`` in, ``XPublic`` out), shared with the SDK.

Pure pydantic: no FastAPI import, so the SDK can use them without the server stack. Every input is capped
(string lengths, list sizes, JSON document size, numeric ranges) so a request cannot make the server do
unbounded work. Error replies all have the shape :class:`ErrorResponse`: ``{"error": {"code", "message", "field"?}}``.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from nas_service.arch.spec import BlockSpec
from nas_service.jobspec import (
    NAME_PATTERN,
    FinalizeBy,
    JobSpec,
    JobState,
    LatencyMeasurement,
    TrialState,
    refuse_bool_numbers,
)
from nas_service.limits import nul_path

T = TypeVar("T")

#: Largest accepted search-space document (serialized JSON), in bytes.
MAX_SPACE_BYTES = 256 * 1024
#: Largest page size of any listing.
MAX_PAGE = 500


def _check_document(value: dict[str, Any], what: str) -> dict[str, Any]:
    if len(json.dumps(value, default=str)) > MAX_SPACE_BYTES:
        raise ValueError(f"{what} is larger than {MAX_SPACE_BYTES} bytes")
    return value


def _screen(model: type[BaseModel], value: Any, info: ValidationInfo) -> Any:
    """Refuse booleans for numbers and NUL characters anywhere in a request field (one answer on every backend)."""
    value = refuse_bool_numbers(model, value, info)
    where = nul_path(value)
    if where is not None:
        raise ValueError(
            f"NUL characters are not allowed ({where})"
            if where not in ("value", "key")
            else "NUL characters are not allowed"
        )
    return value


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _screen_input(cls, value: Any, info: ValidationInfo) -> Any:
        return _screen(cls, value, info)


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


class SpaceSummary(_Out):
    """A stored search space as listings show it (no document: ``GET /spaces/{id}`` has it)."""

    id: int
    name: str
    version: int
    owner: str
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
    #: Run even when the space does not fit the proxy task (:mod:`nas_service.fitcheck`); the refusals come back
    #: as ``notes``.
    force: bool = False

    @field_validator("*", mode="before")
    @classmethod
    def _screen_input(cls, value: Any, info: ValidationInfo) -> Any:
        return _screen(cls, value, info)

    @field_validator("name")
    @classmethod
    def _plain_name(cls, v: str) -> str:
        # A job's name also names the space stored for an inline one: the same rule as space names.
        if not re.fullmatch(NAME_PATTERN, v):
            raise ValueError("a name starts with a letter or digit and has only letters, digits, spaces and ._-")
        return v

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
        if self.kind == "final":
            raise ValueError("a final job is created from a search job: POST /jobs/{id}/finalize (nas job finalize)")
        if self.task == "detection":
            if self.space_id is not None or self.space is not None:
                raise ValueError("a detection job names its space in 'detection.space', not 'space'/'space_id'")
        elif self.space_id is None and self.space is None and self.kind not in ("scaling", "netadapt"):
            raise ValueError("a search job needs 'space_id' or an inline 'space'")
        return self

    def to_spec(self) -> JobSpec:
        """The :class:`JobSpec` part of the request."""
        return JobSpec.model_validate(self.model_dump(exclude={"space_id", "space", "force"}))


class FinalizeRequest(BaseModel):
    """Stage two of a search job: train its ``top_k`` best networks to convergence (a new job of kind ``final``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    top_k: int = Field(3, ge=1, le=256, strict=True, description="How many networks to train.")
    by: FinalizeBy = Field(
        "reward",
        description="Rank by reward, take the Pareto front, or (a netadapt job) the networks it kept, newest first.",
    )
    target_ms: float | None = Field(None, gt=0, le=1e6, description="Rank (and reward) at this latency target.")
    epochs: int = Field(30, ge=1, le=1000, strict=True)
    augment: Literal["auto", "none", "crop", "crop-flip"] = "auto"
    ema_decay: float | None = Field(None, gt=0, lt=1)
    name: str | None = Field(None, min_length=1, max_length=200)
    proxy: dict[str, Any] | None = Field(
        None,
        max_length=32,
        description=(
            "Retrain the networks under the source job's proxy with these fields changed instead of the final "
            "recipe (a proxy study's candidate: validation accuracy, the proxy's resolution; epochs, augment and "
            "ema_decay unused)."
        ),
    )


class FidelityNetwork(BaseModel):
    """One finalized network: its proxy (search) values beside its final ones."""

    source_trial_id: int
    final_trial_id: int | None = None
    proxy_accuracy: float | None = None
    final_accuracy: float | None = None
    proxy_reward: float | None = None
    final_reward: float | None = None
    latency_ms: float | None = None
    state: str


class FidelityPublic(BaseModel):
    """How well the proxy ranked the networks of a final job (``GET /jobs/{id}/fidelity``)."""

    job_id: int
    source_job_id: int
    n: int
    kendall_tau: float | None = None
    spearman: float | None = None
    reward_kendall_tau: float | None = None
    reward_spearman: float | None = None
    top1_agrees: bool | None = None
    regret: float | None = None
    proxy_pick: int | None = None
    final_best: int | None = None
    networks: list[FidelityNetwork] = Field(default_factory=list)


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
    #: The strategy the job runs (a scaling or netadapt job runs its own, whatever ``spec.strategy.name`` says).
    strategy: str = ""
    space_id: int | None = None
    spec: JobSpec
    counters: JobCounters
    best_reward: float | None = None
    best_trial_id: int | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    #: Only in the reply to ``POST /jobs``: how the space was fitted to the proxy task (heads sized to the
    #: data's classes, the resolutions trained, refusals overridden by ``force``).
    notes: list[str] = Field(default_factory=list)


class JobSummary(_Out):
    """A job as listings show it: :class:`JobPublic` without the spec (``GET /jobs/{id}`` has it), plus the
    strategy's name and the trial budget, so a listing stays small whatever the specs hold."""

    id: int
    name: str
    owner: str
    state: JobState
    kind: str
    strategy: str
    max_trials: int
    space_id: int | None = None
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
    #: The input resolution the trial's network trains at (its architecture's), ``None`` without one.
    resolution: int | None = None
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
    #: Seconds its last attempt spent training (what a proxy costs; ``nas proxy study`` sums them).
    train_seconds: float | None = None
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
    #: ``block_strings`` decoded per stage by the server's codec (:func:`nas_service.arch.decode_stages`), so
    #: that clients (the dashboard's block table) show the fields without a block-string parser of their own.
    blocks: list[list[BlockSpec]] | None = None


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
    #: Input size (px) the trial trained and was measured at.
    resolution: int | None = None
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


class HistoryPublic(BaseModel):
    """Best reward and front hypervolume after each completed trial (:func:`nas_service.insights.search_history`).

    One entry per completed trial in number order; ``reference`` is the final front's hypervolume reference
    (the one ``/pareto`` reports), used for every prefix so the curve is comparable along the search.
    """

    job_id: int
    target_ms: float
    alpha: float
    beta: float
    reference: ReferencePoint
    number: list[int]
    reward: list[float]
    best_reward: list[float]
    hypervolume: list[float]


class ChoiceParameter(BaseModel):
    """One searched choice that varies among the completed trials, and its values (codes index them)."""

    name: str
    values: list[Any]


class ChoicesPublic(BaseModel):
    """Completed trials' varying choices as codes, for parallel coordinates (-1: the trial did not set it)."""

    job_id: int
    target_ms: float
    alpha: float
    beta: float
    parameters: list[ChoiceParameter]
    trial_ids: list[int]
    numbers: list[int]
    reward: list[float]
    codes: dict[str, list[int]]


class ChoiceImportance(BaseModel):
    """How much of the reward's variation one choice explains (normalised: the list sums to 1)."""

    name: str
    importance: float


class ImportancePublic(BaseModel):
    """Choice importance for the reward by an Optuna importance evaluator, most important first."""

    job_id: int
    target_ms: float
    alpha: float
    beta: float
    evaluator: str
    n_trials: int
    importances: list[ChoiceImportance]


class ScalingPublic(BaseModel):
    """A compound-scaling job's result: the step-1 coefficient grid and the phi family (EfficientNet's two steps).

    Rows carry phi, alpha, beta, gamma, the depth/width/resolution multipliers, resolution, accuracy, latency_ms,
    params, macs, flops_planned (what the coefficients promise), macs_ratio and params_ratio (what the network as
    built costs against the base), reward and state (``planned``/``pending`` until trained).
    """

    job_id: int
    chosen: dict[str, float] | None
    note: str | None
    grid: list[dict[str, Any]]
    family: list[dict[str, Any]]


class NetAdaptPublic(BaseModel):
    """A netadapt job's table (MobileNetV3's NetAdapt: a trained network shrunk step by step to a latency budget).

    ``status``: ``running``, ``met`` (the latency meets the budget), ``stuck``, ``max_steps`` or ``failed`` (the
    base did not train); ``None`` for other jobs. ``base`` is step 0's row and ``current`` the network so far
    (latency_ms, measured_ms, accuracy, block_strings, trial_id). ``latency_ms`` is on the base's scale: the
    base's measurement times the paired ratios (each proposal measured beside its parent in the same session) of
    the steps kept; ``measured_ms`` is a network's own measurement in its trial. Each of ``steps`` has step,
    target_ms, from_latency_ms, from_accuracy, asked, completed, state (``chosen``/``no_progress``) and
    ``chosen``: stage, kind (``expansion``/``width``/``kernel``/``repeats``), notches, latency_ms, measured_ms,
    reference_ms (the parent beside it), met_target, accuracy, delta_latency_ms, delta_accuracy, score (accuracy
    change per millisecond saved), trial_id. ``proposals`` are the step in progress: stage, kind, notches,
    estimated_ms (before training), latency_ms, measured_ms, accuracy, state, trial_id.
    """

    job_id: int
    status: Literal["running", "met", "stuck", "max_steps", "failed"] | None
    note: str | None
    budget_ms: float | None
    budget_fraction: float | None
    step: int
    target_ms: float | None
    base: dict[str, Any] | None
    current: dict[str, Any] | None
    steps: list[dict[str, Any]]
    proposals: list[dict[str, Any]]


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
    "ChoiceImportance",
    "ChoiceParameter",
    "ChoicesPublic",
    "HistoryPublic",
    "ImportancePublic",
    "BestPublic",
    "EpochPublic",
    "ErrorDetail",
    "ErrorResponse",
    "HealthPublic",
    "JobCounters",
    "JobCreate",
    "JobPublic",
    "JobSummary",
    "Page",
    "ParetoPublic",
    "ReferencePoint",
    "SpaceCreate",
    "SpaceError",
    "SpacePublic",
    "SpaceSummary",
    "SpaceValidation",
    "TokenPublic",
    "TrialDetail",
    "TrialPoint",
    "TrialPublic",
    "NetAdaptPublic",
    "ScalingPublic",
]
