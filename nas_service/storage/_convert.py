"""ORM row -> frozen domain record conversions."""

from __future__ import annotations

from nas_service.jobspec import JobSpec, JobState, TrialState
from nas_service.storage.domain import (
    JobRecord,
    LatencyRecord,
    Owner,
    SpaceRecord,
    TokenRecord,
    TokenScope,
    TrialMetric,
    TrialRecord,
)
from nas_service.storage.orm import (
    ApiTokenRow,
    JobRow,
    LatencyMeasurementRow,
    OwnerRow,
    SearchSpaceRow,
    TrialMetricRow,
    TrialRow,
)


def owner(row: OwnerRow) -> Owner:
    """Owner record."""
    return Owner(id=row.id, name=row.name, created_at=row.created_at)


def token(row: ApiTokenRow, owner_name: str) -> TokenRecord:
    """Token record (no secret)."""
    return TokenRecord(
        id=row.id,
        owner=owner_name,
        scope=TokenScope(row.scope),
        prefix=row.prefix,
        name=row.name,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked=row.revoked,
    )


def space(row: SearchSpaceRow, owner_name: str) -> SpaceRecord:
    """Space record."""
    return SpaceRecord(
        id=row.id,
        owner=owner_name,
        name=row.name,
        version=row.version,
        body=row.body,
        log10_cardinality=row.log10_cardinality,
        archived=row.archived,
        created_at=row.created_at,
    )


def job(row: JobRow, owner_name: str) -> JobRecord:
    """Job record (the stored spec is re-validated into a ``JobSpec``)."""
    return JobRecord(
        id=row.id,
        owner=owner_name,
        name=row.name,
        kind=row.kind,
        space_id=row.space_id,
        spec=JobSpec.model_validate(row.spec),
        state=JobState(row.state),
        trials_total=row.trials_total,
        trials_completed=row.trials_completed,
        trials_pruned=row.trials_pruned,
        trials_failed=row.trials_failed,
        best_reward=row.best_reward,
        best_trial_id=row.best_trial_id,
        claimed_by=row.claimed_by,
        lease_until=row.lease_until,
        lease_epoch=row.lease_epoch,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        error=row.error,
        event_seq=row.event_seq,
    )


def trial(row: TrialRow) -> TrialRecord:
    """Trial record."""
    return TrialRecord(
        id=row.id,
        job_id=row.job_id,
        number=row.number,
        state=TrialState(row.state),
        params=row.params,
        architecture=row.architecture,
        block_strings=row.block_strings,
        arch_hash=row.arch_hash,
        params_count=row.params_count,
        macs=row.macs,
        accuracy=row.accuracy,
        latency_ms=row.latency_ms,
        latency_p90_ms=row.latency_p90_ms,
        latency=row.latency,
        reward=row.reward,
        attempts=row.attempts,
        worker=row.worker,
        node=row.node,
        device=row.device,
        epochs_run=row.epochs_run,
        train_seconds=row.train_seconds,
        on_front=row.on_front,
        report_key=row.report_key,
        error=row.error,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        heartbeat_at=row.heartbeat_at,
        updated_seq=row.updated_seq,
        suggestion_id=row.suggestion_id,
        suggestion_memo=row.suggestion_memo,
    )


def metric(row: TrialMetricRow) -> TrialMetric:
    """Epoch metric record."""
    return TrialMetric(
        trial_id=row.trial_id,
        epoch=row.epoch,
        val_accuracy=row.val_accuracy,
        train_loss=row.train_loss,
        elapsed_s=row.elapsed_s,
        attempt=row.attempt,
    )


def latency(row: LatencyMeasurementRow) -> LatencyRecord:
    """Latency cache record."""
    return LatencyRecord(
        id=row.id,
        cache_key=row.cache_key,
        arch_hash=row.arch_hash,
        input_shape=list(row.input_shape),
        device=row.device,
        runtime_key=row.runtime_key,
        batch_size=row.batch_size,
        threads=row.threads,
        median_ms=row.median_ms,
        p90_ms=row.p90_ms,
        mean_ms=row.mean_ms,
        std_ms=row.std_ms,
        samples=row.samples,
        samples_ms=list(row.samples_ms),
        created_at=row.created_at,
    )
