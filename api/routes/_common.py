"""Query parameters shared by listings, and record lookups that enforce visibility."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from api.deps import Principal
from api.errors import ApiError, not_found
from nas_service.references import Reference
from nas_service.schemas import MAX_PAGE
from nas_service.storage import BaseStorage, JobRecord, NotFoundError, SpaceRecord, TrialRecord

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=10**9, description="Items to skip.")]
PathId = Annotated[int, Path(ge=1, le=2**31 - 1, description="A positive 32-bit id.")]


def visible_job(storage: BaseStorage, principal: Principal, job_id: int) -> JobRecord:
    """The job, or 404 when missing or not the caller's."""
    try:
        job = storage.get_job(job_id)
    except NotFoundError:
        raise not_found("job", job_id) from None
    principal.check(job.owner, "job", job_id)
    return job


def visible_space(storage: BaseStorage, principal: Principal, space_id: int) -> SpaceRecord:
    """The space, or 404 when missing or not the caller's."""
    try:
        space = storage.get_space(space_id)
    except NotFoundError:
        raise not_found("space", space_id) from None
    principal.check(space.owner, "space", space_id)
    return space


def visible_trial(storage: BaseStorage, principal: Principal, trial_id: int) -> tuple[TrialRecord, JobRecord]:
    """The trial and its job, or 404 when missing or not the caller's."""
    try:
        trial = storage.get_trial(trial_id)
    except NotFoundError:
        raise not_found("trial", trial_id) from None
    job = storage.get_job(trial.job_id)
    principal.check(job.owner, "trial", trial_id)
    return trial, job


#: Ids above this cannot exist (32-bit keys); looking them up would overflow Postgres' integer.
_MAX_ID = 2**31 - 1


def visible_reference(storage: BaseStorage, principal: Principal, ref: Reference) -> SpaceRecord | TrialRecord:
    """Resolve an id a job spec names through the caller's visibility.

    Raises:
        ApiError: 404 naming ``ref.field``, identical for a missing object and someone else's.
    """
    try:
        if not 1 <= ref.ident <= _MAX_ID:
            raise not_found(ref.kind, ref.ident)
        if ref.kind == "space":
            return visible_space(storage, principal, ref.ident)
        return visible_trial(storage, principal, ref.ident)[0]
    except ApiError as exc:
        exc.field = ref.field
        raise
