"""The result tables of a compound-scaling job and of a netadapt job, rebuilt from the saved strategy state."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from api.deps import CurrentOwner, StorageDep
from api.routes._common import PathId, visible_job
from nas_service.schemas import NetAdaptPublic, ScalingPublic

router = APIRouter(tags=["results"])


@router.get("/jobs/{job_id}/scaling", operation_id="get_scaling", response_model=ScalingPublic)
async def get_scaling(job_id: PathId, storage: StorageDep, principal: CurrentOwner) -> ScalingPublic:
    """Step 1 (the alpha/beta/gamma grid at phi=1) and step 2 (the phi family) with measured accuracy,
    latency, params and MACs. Empty tables, with a note, for other jobs or before the planner has state."""
    from nas_service.orchestration.reports import job_scaling_report  # lazy: strategies are not needed elsewhere

    job = visible_job(storage, principal, job_id)
    report = await run_in_threadpool(job_scaling_report, storage, job)
    return ScalingPublic(job_id=job_id, **report)


@router.get("/jobs/{job_id}/netadapt", operation_id="get_netadapt", response_model=NetAdaptPublic)
async def get_netadapt(job_id: PathId, storage: StorageDep, principal: CurrentOwner) -> NetAdaptPublic:
    """NetAdapt's steps: per step the latency target, the proposals tried and the one kept (stage, reduction,
    measured latency and accuracy, accuracy change per millisecond saved), the base and the network so far.
    An empty table, with a note, for other jobs."""
    from nas_service.orchestration.netadapt import netadapt_report  # lazy: strategies are not needed elsewhere

    job = visible_job(storage, principal, job_id)
    report = await run_in_threadpool(netadapt_report, storage, job)
    return NetAdaptPublic(job_id=job_id, **report)
