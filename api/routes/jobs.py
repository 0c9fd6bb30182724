"""``/jobs``: queue, list, read, cancel and resume search jobs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status

from api.convert import job_public, job_summary
from api.deps import CurrentOwner, StorageDep
from api.errors import ApiError
from api.routes._common import Limit, Offset, PathId, visible_job, visible_reference
from api.routes.latency import with_latency_targets
from api.space_check import check_space, fit_report, preset_space, space_model
from nas_service.arch.spec import Architecture
from nas_service.datapaths import resolve_data_path
from nas_service.fitcheck import forced
from nas_service.jobspec import JobState
from nas_service.limits import (
    cap_constraints,
    check_architecture,
    check_json_tree,
    check_scaling_base,
    check_space_limits,
)
from nas_service.orchestration.fairness import resource_cap_problem, resource_caps
from nas_service.references import spec_references
from nas_service.schemas import JobCreate, JobPublic, JobSummary, Page
from nas_service.storage import BaseStorage, SpaceRecord, TrialRecord

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.post("", operation_id="create_job", status_code=status.HTTP_201_CREATED, response_model=JobPublic)
def create_job(payload: JobCreate, request: Request, storage: StorageDep, principal: CurrentOwner) -> JobPublic:
    """Queue a job on a stored space (``space_id``), an inline space or a preset's name (``space``).

    An inline space is stored first (as a new version of a space named after the job); a preset is stored once
    per owner and preset version, and later jobs reuse that copy. The space is checked against the proxy task
    (:mod:`nas_service.fitcheck`): a mismatch is a 422 naming the field unless ``force`` is set; what is adapted
    (heads sized to the data's classes, the resolutions trained) comes back in ``notes``. Every id the request
    names (``space_id``, a trial id as ``scaling.base``) must be visible to the caller: a missing id and someone
    else's give the same 404. Server caps (:mod:`nas_service.limits`) are checked here: free-form settings, the
    scaling base (decoded, 422 naming the block), the space; the job's ``constraints`` are lowered to the
    server's parameter and MAC caps.
    """
    limits = request.app.state.settings.limits()
    check_json_tree(payload.strategy.settings, "strategy.settings", limits)  # before anything serializes it
    if isinstance(payload.space, dict):
        check_json_tree(payload.space, "space", limits)
    spec = with_latency_targets(storage, payload.to_spec())
    over = resource_cap_problem(spec.resources, resource_caps(request.app.state.settings))
    if over is not None:
        raise ApiError(422, "validation_error", f"resources.{over[0]}: {over[1]}", field=f"resources.{over[0]}")
    space_id = payload.space_id
    body: dict[str, Any] | None = None
    log10: float | None = None
    for ref in spec_references(spec, space_id):  # every id the request names, as the caller may see it
        record = visible_reference(storage, principal, ref)
        if isinstance(record, TrialRecord):
            if record.architecture is None:
                raise ApiError(422, "validation_error", f"trial {ref.ident} has no network to scale", field=ref.field)
            base = Architecture.model_validate(record.architecture)
            check_architecture(base, ref.field, limits, resolution=spec.proxy.resolution)
        elif isinstance(record, SpaceRecord):
            check_space_limits(space_model(record.body), limits)
            body = record.body
    check_scaling_base(spec, limits)
    if spec.proxy.data_path is not None:  # stored resolved: what the workers read is what was checked
        real = resolve_data_path(spec.proxy.data_path, request.app.state.settings.resolved_data_roots())
        spec = spec.model_copy(update={"proxy": spec.proxy.model_copy(update={"data_path": str(real)})})
    if space_id is None and payload.space is not None:
        body = preset_space(payload.space) if isinstance(payload.space, str) else payload.space
        report = check_space(body)
        if not report.valid:
            err = report.errors[0]
            raise ApiError(422, "validation_error", err.message, field=f"space.{err.field}".rstrip("."))
        check_space_limits(space_model(body), limits)
        log10 = report.log10_cardinality
    fit = fit_report(payload, spec, body)
    if fit.problems and not payload.force:
        first = fit.problems[0]
        raise ApiError(422, "validation_error", f"{first.message} (or set force: true)", field=first.field)
    if space_id is None and body is not None:
        if isinstance(payload.space, str):  # a preset: one stored copy per owner and preset version
            space_id = _stored_preset(storage, principal.owner, body, log10)
        else:
            space_id = storage.create_space(principal.owner, spec.name, body, log10).id
    spec = cap_constraints(spec, limits)
    public = job_public(storage.create_job(principal.owner, space_id, spec))
    public.notes = forced(fit).notes
    return public


def _stored_preset(storage: BaseStorage, owner: str, body: dict[str, Any], log10: float | None) -> int:
    """The owner's stored copy of a preset space (same name, same document), stored now if there is none."""
    name = str(body["name"])
    for stored in storage.list_spaces(owner=owner, name=name, include_archived=False, limit=100).items:
        if stored.body == body:
            return stored.id
    return storage.create_space(owner, name, body, log10).id


@router.get("", operation_id="list_jobs", response_model=Page[JobSummary])
def list_jobs(
    storage: StorageDep,
    principal: CurrentOwner,
    state: Annotated[list[JobState] | None, Query(max_length=5, description="Only jobs in these states.")] = None,
    owner: Annotated[str | None, Query(max_length=200, description="Admins only: one owner's jobs.")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[JobSummary]:
    """Job summaries (no spec: ``GET /jobs/{id}`` has it), newest first: your own, or (admins) everyone's or one
    ``owner``'s."""
    who = owner if principal.is_admin else principal.owner
    page = storage.list_jobs(owner=who, states=state, limit=limit, offset=offset)
    return Page[JobSummary](items=[job_summary(j) for j in page.items], total=page.total, limit=limit, offset=offset)


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
