"""Small factories for tests of code that uses the storage (like Optuna's ``testing`` helpers)."""

from __future__ import annotations

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
