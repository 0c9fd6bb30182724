"""Storage records -> API reply models."""

from __future__ import annotations

from nas_service.arch.blockstr import BlockStringError, decode_stages
from nas_service.arch.spec import BlockSpec
from nas_service.jobspec import LatencyMeasurement, TrialState, strategy_name
from nas_service.schemas import (
    EpochPublic,
    JobCounters,
    JobPublic,
    JobSummary,
    SpacePublic,
    SpaceSummary,
    TokenPublic,
    TrialDetail,
    TrialPoint,
    TrialPublic,
)
from nas_service.storage import JobRecord, SpaceRecord, TokenRecord, TrialMetric, TrialRecord

#: States whose trials carry their latest epoch report (``last_epoch``: live training progress).
TRAINING = (TrialState.RUNNING, TrialState.STALE)


def space_public(rec: SpaceRecord) -> SpacePublic:
    """A stored space."""
    return SpacePublic(
        id=rec.id,
        name=rec.name,
        version=rec.version,
        owner=rec.owner,
        space=rec.body,
        log10_cardinality=rec.log10_cardinality,
        archived=rec.archived,
        created_at=rec.created_at,
    )


def job_counters(rec: JobRecord) -> JobCounters:
    """How many trials a job created and how they ended (listings and details alike)."""
    return JobCounters(
        total=rec.trials_total, completed=rec.trials_completed, pruned=rec.trials_pruned, failed=rec.trials_failed
    )


def job_public(rec: JobRecord) -> JobPublic:
    """A job with its counters."""
    return JobPublic(
        id=rec.id,
        name=rec.name,
        owner=rec.owner,
        state=rec.state,
        kind=rec.kind,
        strategy=strategy_name(rec.spec),
        space_id=rec.space_id,
        spec=rec.spec,
        counters=job_counters(rec),
        best_reward=rec.best_reward,
        best_trial_id=rec.best_trial_id,
        created_at=rec.created_at,
        started_at=rec.started_at,
        finished_at=rec.finished_at,
        error=rec.error,
    )


def space_summary(rec: SpaceRecord) -> SpaceSummary:
    """A stored space for listings (no document)."""
    return SpaceSummary(
        id=rec.id,
        name=rec.name,
        version=rec.version,
        owner=rec.owner,
        log10_cardinality=rec.log10_cardinality,
        archived=rec.archived,
        created_at=rec.created_at,
    )


def job_summary(rec: JobRecord) -> JobSummary:
    """A job for listings: no spec, its strategy's name and trial budget instead."""
    return JobSummary(
        id=rec.id,
        name=rec.name,
        owner=rec.owner,
        state=rec.state,
        kind=rec.kind,
        strategy=strategy_name(rec.spec),
        max_trials=rec.spec.budget.max_trials,
        space_id=rec.space_id,
        counters=job_counters(rec),
        best_reward=rec.best_reward,
        best_trial_id=rec.best_trial_id,
        created_at=rec.created_at,
        started_at=rec.started_at,
        finished_at=rec.finished_at,
        error=rec.error,
    )


def _trial_fields(rec: TrialRecord) -> dict[str, object]:
    return {
        "id": rec.id,
        "job_id": rec.job_id,
        "number": rec.number,
        "state": rec.state,
        "params": rec.params,
        "block_strings": rec.block_strings,
        "architecture": rec.architecture,
        "resolution": rec.resolution,
        "arch_hash": rec.arch_hash,
        "params_count": rec.params_count,
        "macs": rec.macs,
        "accuracy": rec.accuracy,
        "latency_ms": rec.latency_ms,
        "latency_p90_ms": rec.latency_p90_ms,
        "reward": rec.reward,
        "attempts": rec.attempts,
        "worker": rec.worker,
        "node": rec.node,
        "device": rec.device,
        "epochs_run": rec.epochs_run,
        "train_seconds": rec.train_seconds,
        "on_front": rec.on_front,
        "error": rec.error,
        "created_at": rec.created_at,
        "started_at": rec.started_at,
        "finished_at": rec.finished_at,
    }


def epoch_public(metric: TrialMetric) -> EpochPublic:
    """One epoch report."""
    return EpochPublic(
        epoch=metric.epoch,
        val_accuracy=metric.val_accuracy,
        train_loss=metric.train_loss,
        elapsed_s=metric.elapsed_s,
        attempt=metric.attempt,
    )


def _last_epoch(rec: TrialRecord, last: TrialMetric | None) -> EpochPublic | None:
    return epoch_public(last) if last is not None and rec.state in TRAINING else None


def trial_public(rec: TrialRecord, last: TrialMetric | None = None) -> TrialPublic:
    """A trial for listings; ``last`` (its latest epoch report) becomes ``last_epoch`` while it trains."""
    public = TrialPublic.model_validate(_trial_fields(rec))
    public.last_epoch = _last_epoch(rec, last)
    return public


def trial_detail(rec: TrialRecord, metrics: list[TrialMetric]) -> TrialDetail:
    """A trial with its current attempt's epochs (``metrics``, in epoch order) and latency measurement."""
    fields = _trial_fields(rec)
    fields["epochs"] = [epoch_public(m) for m in metrics]
    fields["last_epoch"] = _last_epoch(rec, max(metrics, key=lambda m: m.epoch) if metrics else None)
    fields["latency"] = LatencyMeasurement.model_validate(rec.latency) if rec.latency else None
    fields["blocks"] = _decoded_blocks(rec.block_strings)
    return TrialDetail.model_validate(fields)


def _decoded_blocks(block_strings: list[list[str]] | None) -> list[list[BlockSpec]] | None:
    """The stored block strings decoded per stage; ``None`` without them (or, never expected, if undecodable)."""
    if not block_strings:
        return None
    try:
        return decode_stages(block_strings)
    except BlockStringError:  # stored strings were encoded by the same codec; an old row must not break the page
        return None


def trial_point(rec: TrialRecord, reward: float | None) -> TrialPoint:
    """A compact summary with the given (possibly re-scored) reward."""
    return TrialPoint(
        trial_id=rec.id,
        number=rec.number,
        accuracy=rec.accuracy,
        latency_ms=rec.latency_ms,
        reward=reward,
        params=rec.params_count,
        macs=rec.macs,
        resolution=rec.resolution,
        block_strings=rec.block_strings,
    )


def token_public(rec: TokenRecord, plaintext: str | None = None) -> TokenPublic:
    """A token (its secret only right after creation)."""
    return TokenPublic(
        id=rec.id,
        owner=rec.owner,
        scope=rec.scope.value,
        prefix=rec.prefix,
        name=rec.name,
        created_at=rec.created_at,
        last_used_at=rec.last_used_at,
        revoked=rec.revoked,
        token=plaintext,
    )
