"""Lease fencing: the writes a dispatcher makes for a job are refused once that job's lease has moved.

Every claim of a job bumps ``jobs.lease_epoch`` (see :meth:`BaseStorage.claim_job`). A dispatcher runs the
writes it makes for a job inside :func:`fenced` with the epoch it claimed the job with; every writing
transaction opened inside it then starts with the conditional update ``UPDATE jobs SET lease_epoch =
lease_epoch WHERE id = :job AND lease_epoch = :epoch``. No row matched means another dispatcher claimed the job
since: the transaction is rolled back and :class:`~nas_service.storage.errors.LeaseLostError` raised before
it wrote anything. The update takes the job row's lock until the commit, so a concurrent claim (which updates
the same row) is ordered before or after the whole write, never inside it (Postgres re-checks the condition on
the newest row version; SQLite writers are serialised); taking the job row first keeps the storage's lock
order (job, then trial).

The fence is a context variable: it holds for the calling thread (or task) only, so the API's requests in
the same process (``nas serve``) are never fenced by the embedded dispatcher's job.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.orm import Session

from nas_service.storage.errors import LeaseLostError
from nas_service.storage.orm import JobRow

__all__ = ["Fence", "check_fence", "current_fence", "fenced"]


@dataclass(frozen=True, slots=True)
class Fence:
    """The lease a write is made under.

    Attributes:
        job_id: The job.
        epoch: The ``lease_epoch`` the writer claimed the job with.
    """

    job_id: int
    epoch: int


_FENCE: ContextVar[Fence | None] = ContextVar("nas_lease_fence", default=None)


@contextmanager
def fenced(job_id: int, epoch: int | None) -> Iterator[None]:
    """Fence every writing storage transaction opened inside this block by ``job_id``'s ``epoch``.

    Args:
        job_id: The job the writes are for.
        epoch: The lease epoch the writer holds (``None``: no fence, e.g. the writer holds no claim).
    """
    token = _FENCE.set(None if epoch is None else Fence(job_id, epoch))
    try:
        yield
    finally:
        _FENCE.reset(token)


def current_fence() -> Fence | None:
    """The fence of the calling context, if any."""
    return _FENCE.get()


def check_fence(session: Session) -> None:
    """Refuse the session's transaction when the fence's lease moved (called first in every writing session).

    Raises:
        LeaseLostError: The job's ``lease_epoch`` is no longer the fence's (or the job is gone).
    """
    fence = _FENCE.get()
    if fence is None:
        return
    matched = session.execute(
        update(JobRow)
        .where(JobRow.id == fence.job_id, JobRow.lease_epoch == fence.epoch)
        .values(lease_epoch=JobRow.lease_epoch)
        .returning(JobRow.id)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if matched is None:
        raise LeaseLostError(f"job {fence.job_id}: lease epoch {fence.epoch} is no longer current")
