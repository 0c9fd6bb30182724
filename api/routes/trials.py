"""Trials: a job's trials (paged, sorted, filtered) and one trial with its epochs and latency samples."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.convert import TRAINING, trial_detail, trial_public
from api.deps import CurrentOwner, StorageDep
from api.routes._common import Limit, Offset, PathId, visible_job, visible_trial
from nas_service.jobspec import TrialState
from nas_service.schemas import Page, TrialDetail, TrialPublic

router = APIRouter(tags=["trials"])


@router.get("/jobs/{job_id}/trials", operation_id="list_trials", response_model=Page[TrialPublic])
def list_trials(
    job_id: PathId,
    storage: StorageDep,
    principal: CurrentOwner,
    limit: Limit = 50,
    offset: Offset = 0,
    sort: Literal["number", "reward", "accuracy", "latency"] = "number",
    order: Literal["asc", "desc"] | None = None,
    state: Annotated[list[TrialState] | None, Query(max_length=9)] = None,
) -> Page[TrialPublic]:
    """A job's trials. ``order`` defaults to ascending for number and latency, descending otherwise.

    Running and stale trials carry ``last_epoch``, their latest epoch report (as in the event stream).
    """
    visible_job(storage, principal, job_id)
    direction = order or ("asc" if sort in ("number", "latency") else "desc")
    page = storage.list_trials(job_id, states=state, sort=sort, order=direction, limit=limit, offset=offset)
    training = [t.id for t in page.items if t.state in TRAINING]
    last = storage.latest_metrics(training) if training else {}  # one query for the whole page
    items = [trial_public(t, last.get(t.id)) for t in page.items]
    return Page[TrialPublic](items=items, total=page.total, limit=limit, offset=offset)


@router.get("/trials/{trial_id}", operation_id="get_trial", response_model=TrialDetail)
def get_trial(trial_id: PathId, storage: StorageDep, principal: CurrentOwner) -> TrialDetail:
    """One trial with its current attempt's per-epoch metrics and latency measurement (samples included).

    A running or stale trial's ``last_epoch`` is its latest epoch report (as in the event stream).
    """
    trial, _ = visible_trial(storage, principal, trial_id)
    return trial_detail(trial, storage.list_metrics(trial_id))
