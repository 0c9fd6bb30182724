"""Immutable snapshots the storage hands out: IDs, enums and plain values, never ORM rows.

Every record is a frozen dataclass, detached from any session; mutate the database through
:class:`~nas_service.storage.base.BaseStorage` and read a fresh snapshot back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from nas_service.jobspec import JobSpec, JobState, TrialState
from nas_service.latency.targets import LatencyTarget

T = TypeVar("T")


class TokenScope(StrEnum):
    """What a token may do: ``user`` its owner's objects, ``admin`` everything."""

    USER = "user"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Owner:
    """A user (or service account) that owns spaces and jobs."""

    id: int
    name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """An API token, without its secret (only a display prefix is kept besides the hash)."""

    id: int
    owner: str
    scope: TokenScope
    prefix: str
    name: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool


@dataclass(frozen=True, slots=True)
class SpaceRecord:
    """A stored search space; ``version`` counts up per (owner, name)."""

    id: int
    owner: str
    name: str
    version: int
    body: dict[str, Any]
    log10_cardinality: float | None
    archived: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A job with its counters.

    ``event_seq`` grows by one with every change of the job or one of its trials (the SSE cursor).
    """

    id: int
    owner: str
    name: str
    kind: str
    space_id: int | None
    spec: JobSpec
    state: JobState
    trials_total: int
    trials_completed: int
    trials_pruned: int
    trials_failed: int
    best_reward: float | None
    best_trial_id: int | None
    claimed_by: str | None
    lease_until: datetime | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    event_seq: int
    lease_epoch: int = 0


@dataclass(frozen=True, slots=True)
class TrialRecord:
    """One trial: a candidate architecture, its attempts and results.

    ``reward`` is computed with the job's own reward config when a result arrives; ``on_front`` is the
    incrementally maintained Pareto flag (accuracy max, latency min, completed trials only).
    """

    id: int
    job_id: int
    number: int
    state: TrialState
    params: dict[str, Any]
    architecture: dict[str, Any] | None
    block_strings: list[list[str]] | None
    arch_hash: str | None
    params_count: int | None
    macs: int | None
    accuracy: float | None
    latency_ms: float | None
    latency_p90_ms: float | None
    latency: dict[str, Any] | None
    reward: float | None
    attempts: int
    worker: str | None
    node: str | None
    device: str | None
    epochs_run: int
    train_seconds: float | None
    on_front: bool
    report_key: str | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    updated_seq: int
    suggestion_id: str | None = None
    suggestion_memo: dict[str, Any] | None = None

    @property
    def resolution(self) -> int | None:
        """The input resolution the trial's network trains at (its architecture's), ``None`` without one."""
        value = (self.architecture or {}).get("resolution")
        return int(value) if value is not None else None


@dataclass(frozen=True, slots=True)
class TrialMetric:
    """One per-epoch report of a trial; ``attempt`` is the trial's attempt that trained it (from 1)."""

    trial_id: int
    epoch: int
    val_accuracy: float
    train_loss: float | None
    elapsed_s: float | None
    attempt: int = 1


@dataclass(frozen=True, slots=True)
class TrialColumns:
    """A page of a job's trials as parallel columns of plain values (charts and tables, not documents).

    ``columns`` maps a name of :data:`TRIAL_POINT_COLUMNS` to one value per trial, in trial-number order;
    ``block_strings_json`` holds each trial's block strings as the stored JSON text (``None`` when it has none),
    left undecoded so that a caller sending JSON on can pass it through.
    """

    total: int
    columns: dict[str, list[Any]]
    block_strings_json: list[str | None]


#: The scalar columns of :class:`TrialColumns`, named as in ``TrialRecord``; ``state`` is its string value;
#: ``resolution`` is the architecture's input resolution (the one the trial trained at), ``None`` without one.
TRIAL_POINT_COLUMNS = (
    "id",
    "number",
    "state",
    "accuracy",
    "latency_ms",
    "params_count",
    "macs",
    "reward",
    "on_front",
    "epochs_run",
    "resolution",
)


@dataclass(frozen=True, slots=True)
class LatencyRecord:
    """A cached latency measurement of one architecture on one device with one runtime setting."""

    id: int
    cache_key: str
    arch_hash: str
    input_shape: list[int]
    device: str
    runtime_key: str
    batch_size: int
    threads: int
    median_ms: float
    p90_ms: float
    mean_ms: float
    std_ms: float
    samples: int
    samples_ms: list[float]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LatencyTargetRecord:
    """A stored latency target (:class:`~nas_service.latency.targets.LatencyTarget`) and who made it."""

    target: LatencyTarget
    owner: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class RecordPage(Generic[T]):
    """One page of a listing and the total count matching its filter."""

    items: list[T] = field(default_factory=list)
    total: int = 0


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    """Where the database schema stands relative to this code."""

    current: str | None
    head: str
    up_to_date: bool


@dataclass(frozen=True, slots=True)
class CreatedToken:
    """A freshly created token: the only time its plaintext is available."""

    token: str
    record: TokenRecord
