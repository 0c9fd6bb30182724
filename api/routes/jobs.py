"""``/jobs``: queue, list, read, cancel and resume search jobs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from api.convert import job_public
from api.deps import CurrentOwner, StorageDep
from api.errors import ApiError
from api.routes._common import Limit, Offset, PathId, visible_job, visible_space
from api.space_check import check_space, preset_space
from nas_service.jobspec import JobState
from nas_service.orchestration.fairness import resource_cap_problem, resource_caps
from nas_service.schemas import JobCreate, JobPublic, Page

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.post("", operation_id="create_job", status_code=status.HTTP_201_CREATED, response_model=JobPublic)
def create_job(payload: JobCreate, storage: StorageDep, principal: CurrentOwner, request: Request) -> JobPublic:
    """Queue a job on a stored space (``space_id``), an inline space or a preset's name (``space``).

    An inline space is stored first (as a new version of a space named after the job).
    """
    spec = payload.to_spec()
    over = resource_cap_problem(spec.resources, resource_caps(request.app.state.settings))
    if over is not None:
        raise ApiError(422, "validation_error", f"resources.{over[0]}: {over[1]}", field=f"resources.{over[0]}")
    space_id = payload.space_id
    if space_id is not None:
        visible_space(storage, principal, space_id)
    elif payload.space is not None:
        body = preset_space(payload.space) if isinstance(payload.space, str) else payload.space
        report = check_space(body)
        if not report.valid:
            err = report.errors[0]
            raise ApiError(422, "validation_error", err.message, field=f"space.{err.field}".rstrip("."))
        space_id = storage.create_space(principal.owner, spec.name, body, report.log10_cardinality).id
    return job_public(storage.create_job(principal.owner, space_id, spec))


@router.get("", operation_id="list_jobs", response_model=Page[JobPublic])
def list_jobs(
    storage: StorageDep,
    principal: CurrentOwner,
    state: Annotated[list[JobState] | None, Query(max_length=5, description="Only jobs in these states.")] = None,
    owner: Annotated[str | None, Query(max_length=200, description="Admins only: one owner's jobs.")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[JobPublic]:
    """Jobs, newest first: your own, or (admins) everyone's or one ``owner``'s."""
    who = owner if principal.is_admin else principal.owner
    page = storage.list_jobs(owner=who, states=state, limit=limit, offset=offset)
    return Page[JobPublic](items=[job_public(j) for j in page.items], total=page.total, limit=limit, offset=offset)


@router.get("/{job_id}", operation_id="get_job", response_model=JobPublic)
def get_job(job_id: PathId, storage: StorageDep, principal: CurrentOwner) -> JobPublic:
    """One job with its counters."""
    return job_public(visible_job(storage, principal, job_id))


@router.post("/{job_id}/cancel", operation_id="cancel_job", response_model=JobPublic)
def cancel_job(job_id: PathId, storage: StorageDep, principal: CurrentOwner) -> JobPublic:
    """Cancel a queued or running job (its unfinished trials are cancelled); 409 when it already ended."""
    visible_job(storage, principal, job_id)
    return job_public(storage.transition_job(job_id, JobState.CANCELLED))


@router.post("/{job_id}/resume", operation_id="resume_job", response_model=JobPublic)
def resume_job(job_id: PathId, storage: StorageDep, principal: CurrentOwner) -> JobPublic:
    """Queue a cancelled or failed job again (the strategy resumes from its saved state); 409 otherwise."""
    visible_job(storage, principal, job_id)
    return job_public(
        storage.transition_job(job_id, JobState.QUEUED, expected_from=[JobState.CANCELLED, JobState.FAILED])
    )
