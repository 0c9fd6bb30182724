"""The worker path (``/internal``): start, heartbeat, epoch and final reports. Worker-scoped tokens only.

Reports are idempotent: an epoch is stored once per (trial, epoch) and a final report once per ``report_key``;
a retried request never double-counts. A report for a cancelled trial is stored but changes nothing else.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request

from api.convert import trial_public
from api.deps import StorageDep, WorkerAuth
from api.routes._common import PathId
from nas_service.jobspec import EpochReport
from nas_service.schemas import (
    EpochCreate,
    EpochStored,
    HeartbeatCreate,
    ReportCreate,
    StartCreate,
    TrialPublic,
    TrialStatePublic,
)

router = APIRouter(prefix="/internal", tags=["internal"])


@router.post("/trials/{trial_id}/start", operation_id="start_trial", response_model=TrialPublic)
def start_trial(trial_id: PathId, payload: StartCreate, storage: StorageDep, _: WorkerAuth) -> TrialPublic:
    """A worker starts an attempt (409 when that attempt is not the next one)."""
    return trial_public(storage.start_trial(trial_id, payload.attempt, payload.worker, payload.node, payload.device))


@router.post("/trials/{trial_id}/heartbeat", operation_id="heartbeat_trial", response_model=TrialStatePublic)
def heartbeat_trial(
    trial_id: PathId, storage: StorageDep, _: WorkerAuth, payload: HeartbeatCreate | None = None
) -> TrialStatePublic:
    """Keep a running trial alive; the reply's state tells the worker to stop (``cancelled``)."""
    state = storage.heartbeat(trial_id, payload.attempt if payload else None)
    return TrialStatePublic(trial_id=trial_id, state=state)


@router.post("/trials/{trial_id}/epochs", operation_id="report_epoch", response_model=EpochStored)
def report_epoch(trial_id: PathId, payload: EpochCreate, storage: StorageDep, _: WorkerAuth) -> EpochStored:
    """Store one epoch's validation accuracy (a repeated epoch is a no-op: ``stored: false``)."""
    report = EpochReport.model_validate(payload.model_dump(exclude={"attempt"}))
    return EpochStored(stored=storage.report_epoch(trial_id, report, attempt=payload.attempt))


@router.post("/trials/{trial_id}/report", operation_id="report_trial", response_model=TrialPublic)
def report_trial(
    trial_id: PathId, payload: ReportCreate, request: Request, storage: StorageDep, _: WorkerAuth
) -> TrialPublic:
    """Store a trial attempt's final result (idempotent per ``report_key``; 409 for a stale attempt)."""
    started = time.perf_counter()
    try:
        record = storage.report_trial(trial_id, payload.attempt, payload.result, payload.report_key)
    finally:
        request.app.state.metrics.report_latency.observe(time.perf_counter() - started)
    return trial_public(record)
