"""SQLAlchemy ORM models (private to the SQLAlchemy storage; never handed out).

The Alembic revisions in ``migrations/versions`` create exactly these tables; a test compares the two.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps naive text; this re-attaches UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """Now, timezone-aware UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base with a naming convention (stable constraint names for migrations)."""

    metadata = MetaData(naming_convention=NAMING)


class OwnerRow(Base):
    __tablename__ = "owners"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiTokenRow(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    scope: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class SearchSpaceRow(Base):
    __tablename__ = "search_spaces"
    __table_args__ = (UniqueConstraint("owner_id", "name", "version", name="uq_search_spaces_owner_name_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    log10_cardinality: Mapped[float | None] = mapped_column(Float, nullable=True)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class JobRow(Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_state_created", "state", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id", ondelete="CASCADE"), index=True)
    space_id: Mapped[int | None] = mapped_column(
        ForeignKey("search_spaces.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))
    trials_total: Mapped[int] = mapped_column(Integer, default=0)
    trials_completed: Mapped[int] = mapped_column(Integer, default=0)
    trials_pruned: Mapped[int] = mapped_column(Integer, default=0)
    trials_failed: Mapped[int] = mapped_column(Integer, default=0)
    best_reward: Mapped[float | None] = mapped_column(Float, nullable=True)
    best_trial_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # bumped by every claim: the fencing token of the current claim (a dispatcher holding an older one lost it)
    lease_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    event_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class TrialRow(Base):
    __tablename__ = "trials"
    __table_args__ = (
        UniqueConstraint("job_id", "number", name="uq_trials_job_number"),
        Index("ix_trials_job_state", "job_id", "state"),
        Index("ix_trials_job_front", "job_id", "on_front"),
        Index("ix_trials_job_reward", "job_id", "reward"),
        Index("ix_trials_job_seq", "job_id", "updated_seq"),
        Index("ix_trials_job_hash", "job_id", "arch_hash"),
        Index("ix_trials_state_heartbeat", "state", "heartbeat_at"),
        # covers completed_points (the dashboard's first Pareto draw): an index-only scan, never the wide rows;
        # SQLite's index entries carry the rowid (``id``) already, Postgres gets it as an INCLUDE column
        Index("ix_trials_job_state_points", "job_id", "state", "accuracy", "latency_ms", postgresql_include=["id"]),
        # one trial per suggestion: the strategy recognises its own suggestions by this id (NULLs are distinct)
        Index("ix_trials_job_suggestion", "job_id", "suggestion_id", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    suggestion_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    suggestion_memo: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    architecture: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    block_strings: Mapped[list[list[str]] | None] = mapped_column(JSON, nullable=True)
    arch_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    params_count: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    macs: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    accuracy: Mapped[float | None] = mapped_column(Float, nullable=True)
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    latency_p90_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    latency: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    reward: Mapped[float | None] = mapped_column(Float, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(200), nullable=True)
    node: Mapped[str | None] = mapped_column(String(200), nullable=True)
    device: Mapped[str | None] = mapped_column(String(200), nullable=True)
    epochs_run: Mapped[int] = mapped_column(Integer, default=0)
    train_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    on_front: Mapped[bool] = mapped_column(Boolean, default=False)
    report_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class StrategyStateRow(Base):
    """A job's small resumable strategy state (RNG state, policy weights, ids); the history is the trials."""

    __tablename__ = "strategy_states"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TrialMetricRow(Base):
    __tablename__ = "trial_metrics"
    __table_args__ = (UniqueConstraint("trial_id", "attempt", "epoch", name="uq_trial_metrics_trial_attempt_epoch"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"))
    #: The trial's attempt that trained this epoch (a retry reports its epochs again from 1).
    attempt: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    epoch: Mapped[int] = mapped_column(Integer)
    val_accuracy: Mapped[float] = mapped_column(Float)
    train_loss: Mapped[float | None] = mapped_column(Float, nullable=True)
    elapsed_s: Mapped[float | None] = mapped_column(Float, nullable=True)


class LatencyMeasurementRow(Base):
    __tablename__ = "latency_measurements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cache_key: Mapped[str] = mapped_column(String(64), unique=True)
    arch_hash: Mapped[str] = mapped_column(String(64), index=True)
    input_shape: Mapped[list[int]] = mapped_column(JSON)
    device: Mapped[str] = mapped_column(String(200))
    runtime_key: Mapped[str] = mapped_column(String(200))
    batch_size: Mapped[int] = mapped_column(Integer)
    threads: Mapped[int] = mapped_column(Integer)
    median_ms: Mapped[float] = mapped_column(Float)
    p90_ms: Mapped[float] = mapped_column(Float)
    mean_ms: Mapped[float] = mapped_column(Float)
    std_ms: Mapped[float] = mapped_column(Float)
    samples: Mapped[int] = mapped_column(Integer)
    samples_ms: Mapped[list[float]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TrialCounterRow(Base):
    """Monotonic per-job counts of trial transitions (``completed``, ``failed``, ``requeued``, ...) for /metrics.

    No foreign key: the counts outlive their job, so a Prometheus counter summed over jobs never goes down.
    """

    __tablename__ = "trial_counters"
    __table_args__ = (PrimaryKeyConstraint("job_id", "name"),)

    job_id: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(32))
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class ArtifactRow(Base):
    """One stored artifact of the database artifact store; its bytes are in :class:`ArtifactChunkRow`."""

    __tablename__ = "artifacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(512), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ArtifactChunkRow(Base):
    """A chunk (at most ``CHUNK_SIZE`` bytes) of an artifact; an overwrite replaces the artifact row and its chunks."""

    __tablename__ = "artifact_chunks"
    __table_args__ = (PrimaryKeyConstraint("artifact_id", "part"),)

    artifact_id: Mapped[int] = mapped_column(ForeignKey("artifacts.id", ondelete="CASCADE"))
    part: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class LatencyTargetRow(Base):
    """A stored latency target (the built-in ``local-cpu`` is not stored)."""

    __tablename__ = "latency_targets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id", ondelete="CASCADE"), index=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LatencyPredictorRow(Base):
    """A target's latency predictor (lookup table, whole-network samples, correction) as one JSON document."""

    __tablename__ = "latency_predictors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target: Mapped[str] = mapped_column(String(63), unique=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
