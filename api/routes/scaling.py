"""The scaling table of a compound-scaling job, rebuilt from the dispatcher's saved planner state."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from api.deps import CurrentOwner, StorageDep
from api.routes._common import PathId, visible_job
from nas_service.schemas import ScalingPublic

router = APIRouter(tags=["results"])


@router.get("/jobs/{job_id}/scaling", operation_id="get_scaling", response_model=ScalingPublic)
async def get_scaling(job_id: PathId, storage: StorageDep, principal: CurrentOwner) -> ScalingPublic:
    """Step 1 (the alpha/beta/gamma grid at phi=1) and step 2 (the phi family) with measured accuracy,
    latency, params and MACs. Empty tables, with a note, for other jobs or before the planner has state."""
    from nas_service.orchestration.reports import job_scaling_report  # lazy: strategies are not needed elsewhere

    job = visible_job(storage, principal, job_id)
    report = await run_in_threadpool(job_scaling_report, storage, job)
    return ScalingPublic(job_id=job_id, **report)
