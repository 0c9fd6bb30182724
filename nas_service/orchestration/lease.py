"""Job claims and leases: which dispatcher drives which job, and for how long without renewing.

One place for the claim protocol (storage does the conditional updates): a dispatcher claims queued jobs,
or running ones whose lease expired (their dispatcher died), renews each held lease every third of its
length, and releases a claim when it gives a job back. Every claim bumps the job's ``lease_epoch``
(:meth:`JobLeases.epoch_of` remembers the one each held job was claimed with): lease fencing builds here, by
carrying that epoch on every write the dispatcher makes for the job (conditional updates).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass, field

from nas_service.storage.base import BaseStorage
from nas_service.storage.domain import JobRecord
from nas_service.storage.errors import ConflictError, StorageError
from nas_service.storage.fencing import fenced

__all__ = ["JobLeases", "LeaseKeeper"]

log = logging.getLogger(__name__)


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


class LeaseKeeper:
    """Renews a dispatcher's held leases from a background thread, every third of the lease.

    A dispatcher's tick can take longer than its lease (a slow first submit to a cold Ray, a loaded machine);
    renewing from the loop alone would then let another dispatcher take a job that is being driven. Each renewal
    is fenced by the claim's epoch; a job whose claim is gone is put in :attr:`lost` for the loop to drop.

    Args:
        leases: The dispatcher's claims (read, never changed here).
    """

    def __init__(self, leases: JobLeases) -> None:
        self.leases = leases
        self.lost: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nas-lease-keeper", daemon=True)

    def start(self) -> None:
        """Start renewing."""
        self._thread.start()

    def stop(self) -> None:
        """Stop renewing (the thread ends within one period)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.leases.lease_s)

    def _run(self) -> None:
        while not self._stop.wait(self.leases.lease_s / 3):
            for job_id, epoch in list(self.leases.epochs.items()):
                try:
                    with fenced(job_id, epoch):
                        self.leases.renew(job_id)
                except ConflictError:  # LeaseLostError included: another dispatcher holds it now
                    if self.leases.epochs.get(job_id) == epoch:  # still held under that claim here
                        self.lost.add(job_id)
                except StorageError as exc:  # e.g. the database is down: the loop's retries handle it
                    log.debug("lease renewal of job %s failed: %s", job_id, exc)
