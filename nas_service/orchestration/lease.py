"""Job claims and leases: which dispatcher drives which job, and for how long without renewing.

One place for the claim protocol (storage does the conditional updates): a dispatcher claims queued jobs,
or running ones whose lease expired (their dispatcher died), renews each held lease every third of its
length, and releases a claim when it gives a job back. Every claim bumps the job's ``lease_epoch``
(:meth:`JobLeases.epoch_of` remembers the one each held job was claimed with): lease fencing builds here, by
carrying that epoch on every write the dispatcher makes for the job (conditional updates).
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass, field

from nas_service.storage.base import BaseStorage
from nas_service.storage.domain import JobRecord

__all__ = ["JobLeases"]


@dataclass
class JobLeases:
    """The claims of one dispatcher.

    Attributes:
        storage: The controller's storage.
        owner: This dispatcher's claim name.
        lease_s: How long a claim holds without a renewal.
    """

    storage: BaseStorage
    owner: str
    lease_s: float
    epochs: dict[int, int] = field(default_factory=dict)

    def claim_next(self, skip_owners: Collection[str] = ()) -> JobRecord | None:
        """Claim one claimable job (queued, or running with an expired lease) not of ``skip_owners``, or ``None``."""
        job = self.storage.claim_job(self.owner, self.lease_s, skip_owners)
        if job is not None:
            self.epochs[job.id] = job.lease_epoch
        return job

    def epoch_of(self, job_id: int) -> int | None:
        """The lease epoch this dispatcher claimed ``job_id`` with (``None`` when it holds no claim)."""
        return self.epochs.get(job_id)

    def renewal_due(self, renewed_at: float, now: float | None = None) -> bool:
        """Whether a lease renewed at monotonic time ``renewed_at`` should be renewed now."""
        return (time.monotonic() if now is None else now) - renewed_at >= self.lease_s / 3

    def renew(self, job_id: int) -> JobRecord:
        """Extend the claim on ``job_id``.

        Raises:
            ConflictError: The claim was lost (another dispatcher holds it, or the job left ``running``).
        """
        return self.storage.renew_lease(job_id, self.owner, self.lease_s)

    def release(self, job_id: int) -> None:
        """Give the claim on ``job_id`` back (no-op when another dispatcher holds it)."""
        self.epochs.pop(job_id, None)
        self.storage.release_job(job_id, self.owner)

    def forget(self, job_id: int) -> None:
        """Stop tracking ``job_id`` without releasing it (it finished, or the claim was lost)."""
        self.epochs.pop(job_id, None)
