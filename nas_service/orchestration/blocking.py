"""A job blocked on a latency node: its latency target's Ray resource is advertised by no node of the cluster.

While a resource the job's latency targets need is missing, nothing of the job starts (its trials could only
wait inside their measurement), its ``error`` says why as a note (API, ``nas job show``, dashboard), and after
``latency_node_wait_s`` it fails with the same reason; when a node with the resource joins, the note is cleared
and the job's trials start. The cluster's resources are read at most every few seconds per job.
"""

from __future__ import annotations

import logging
import time

from nas_service.latency.registry import job_latency_resources, no_node_message
from nas_service.orchestration.executor import BaseExecutor
from nas_service.orchestration.jobrun import JobRun
from nas_service.storage.base import BaseStorage

__all__ = ["latency_block"]

log = logging.getLogger(__name__)


def latency_block(run: JobRun, executor: BaseExecutor, storage: BaseStorage, wait_s: float) -> tuple[bool, str | None]:
    """Whether ``run`` waits for a latency node, and the reason to fail it with once it waited ``wait_s``.

    Returns:
        ``(blocked, failure)``: ``failure`` is set when the wait is over (the caller fails the job with it).
    """
    needs = job_latency_resources(run.job.spec.latency)
    if not needs:
        return False, None
    now = time.monotonic()
    if now - run.resources_checked_at < min(2.0, wait_s / 5):
        return run.blocked_since is not None, None
    run.resources_checked_at = now
    missing = executor.missing_resources(sorted(needs))
    if not missing:
        if run.blocked_since is not None:
            run.blocked_since = None
            storage.set_job_note(run.job.id, None)
            log.info("job %s: its latency node is there; starting its trials", run.job.id)
        return False, None
    resource = missing[0]
    if run.blocked_since is None:
        run.blocked_since = now
        why = no_node_message(resource, needs[resource])
        storage.set_job_note(run.job.id, f"blocked: {why}; the job fails after {wait_s:g} s")
        log.warning("job %s blocked: %s", run.job.id, why)
    elif now - run.blocked_since >= wait_s:
        return True, no_node_message(resource, needs[resource], waited_s=wait_s)
    return True, None
