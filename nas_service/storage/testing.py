"""Small factories for tests of code that uses the storage (like Optuna's ``testing`` helpers)."""

from __future__ import annotations

from typing import Any

from nas_service.arch.spec import Architecture, BlockSpec
from nas_service.jobspec import LatencyMeasurement, TrialResult, TrialState
from nas_service.storage.base import BaseStorage


def make_arch(channels: int = 16) -> Architecture:
    """A tiny one-block architecture whose hash depends on ``channels``."""
    return Architecture(stages=[[BlockSpec(type="ir", out_channels=channels, expansion=3.0)]], num_classes=10)


def make_result(acc: float, lat: float, state: TrialState = TrialState.COMPLETED) -> TrialResult:
    """A final trial result with a latency measurement of median ``lat`` ms."""
    latency = LatencyMeasurement(
        device="cpu", median_ms=lat, p90_ms=lat * 1.1, mean_ms=lat, samples=3, samples_ms=[lat, lat, lat]
    )
    return TrialResult(state=state, accuracy=acc, latency=latency, params=1000, macs=2000, epochs_run=2)


def store_told(
    storage: BaseStorage,
    job_id: int,
    told: list[tuple[str, dict[str, Any], float | None, float | None]],
    architectures: dict[str, Any] | None = None,
) -> None:
    """Store told suggestions as the dispatcher would: one trial per suggestion id, completed with its values
    (no params/MACs: readers compute those from the architecture).

    Args:
        storage: The storage.
        job_id: The job.
        told: ``(suggestion_id, params, accuracy, latency_ms)``; a ``None`` accuracy stores a failed trial.
        architectures: The network of each suggestion id, stored with its trial (none by default).
    """
    for sid, params, acc, lat in told:
        arch = (architectures or {}).get(sid)
        trial = storage.create_trial(job_id, params, arch, suggestion_id=sid, claimer="worker")
        if acc is None:
            result = TrialResult(state=TrialState.FAILED, error="told failed")
        else:
            latency = None if lat is None else make_result(acc, lat).latency
            result = TrialResult(state=TrialState.COMPLETED, accuracy=acc, latency=latency)
        storage.report_trial(trial.id, 1, result, f"told-{trial.id}")


def run_trial(
    storage: BaseStorage,
    job_id: int,
    acc: float,
    lat: float,
    state: TrialState = TrialState.COMPLETED,
    key: str | None = None,
) -> int:
    """Create, claim and report one trial of ``job_id``; returns the trial id."""
    trial = storage.create_trial(job_id, {"acc": acc, "lat": lat})
    claimed = storage.claim_trial(job_id, "worker")
    assert claimed is not None and claimed.id == trial.id, "another queued trial was claimed first"
    storage.report_trial(trial.id, claimed.attempts, make_result(acc, lat, state), key or f"report-{trial.id}")
    return trial.id
