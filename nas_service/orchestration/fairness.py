"""Resources and fairness: what a trial may ask for, when a waiting attempt is ``unschedulable``, and how one
dispatcher shares its job and trial slots between owners.

* :func:`resource_cap_problem`: a job's ``resources`` against the server's caps (the names and amounts themselves
  are checked by :func:`nas_service.jobspec.resource_problem` when the spec is parsed).
* :class:`OwnerQuotas`: at most ``max_jobs`` jobs of one owner are held by a dispatcher at once (default: one less
  than its ``max_jobs``, so no owner holds every slot) and at most ``max_running`` of one owner's attempts run;
  :meth:`OwnerQuotas.owners_at_job_quota` feeds the claim (storage skips those owners' jobs) and
  :meth:`OwnerQuotas.fill_order` / :meth:`OwnerQuotas.room` the fill loop (the owner with the fewest running
  attempts is served first; an owner at quota gets nothing more).
* :func:`overdue`: the attempts submitted longer ago than ``unschedulable_after_s`` that no worker has taken.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from nas_service.jobspec import STANDARD_RESOURCES
from nas_service.orchestration.jobrun import JobRun
from nas_service.settings import Settings

__all__ = ["OwnerQuotas", "overdue", "resource_cap_problem", "resource_caps"]


def resource_caps(settings: Settings) -> dict[str, float]:
    """The per-trial caps of the standard resources, and ``"*"`` for every custom one."""
    return {
        "cpu": settings.max_cpu_per_trial,
        "gpu": settings.max_gpu_per_trial,
        "memory": settings.max_memory_per_trial,
        "*": settings.max_custom_per_trial,
    }


def resource_cap_problem(resources: Mapping[str, float], caps: Mapping[str, float]) -> tuple[str, str] | None:
    """The first resource over its cap, as ``(key, message)``; ``None`` when all fit."""
    for key, amount in resources.items():
        cap = caps[key] if key in STANDARD_RESOURCES else caps["*"]
        if amount > cap:
            return key, f"{amount:g} is over this server's cap of {cap:g} per trial"
    return None


@dataclass(frozen=True)
class OwnerQuotas:
    """Per-owner quotas of one dispatcher.

    Attributes:
        max_jobs: Jobs of one owner held at once (``None``: no limit).
        max_running: Attempts of one owner running at once (``None``: no limit).
    """

    max_jobs: int | None = None
    max_running: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings, dispatcher_max_jobs: int) -> OwnerQuotas:
        """The settings' quotas; ``owner_max_jobs`` defaults to one less than the dispatcher's ``max_jobs``."""
        max_jobs = settings.owner_max_jobs
        if max_jobs is None and dispatcher_max_jobs > 1:
            max_jobs = dispatcher_max_jobs - 1
        return cls(max_jobs=max_jobs, max_running=settings.owner_max_running)

    def owners_at_job_quota(self, runs: Iterable[JobRun]) -> set[str]:
        """Owners whose held jobs reached ``max_jobs`` (a claim skips their queued jobs)."""
        if self.max_jobs is None:
            return set()
        held = Counter(run.job.owner for run in runs)
        return {owner for owner, n in held.items() if n >= self.max_jobs}

    def fill_order(self, runs: Iterable[JobRun]) -> list[JobRun]:
        """Jobs in the order their free slots are filled: owners with the fewest running attempts first."""
        items = list(runs)
        running = _running_by_owner(items)
        return sorted(items, key=lambda run: (running[run.job.owner], len(run.running), run.job.id))

    def room(self, run: JobRun, runs: Iterable[JobRun]) -> int | None:
        """How many more attempts ``run``'s owner may start (``None``: no limit)."""
        if self.max_running is None:
            return None
        return max(0, self.max_running - _running_by_owner(runs)[run.job.owner])


def _running_by_owner(runs: Iterable[JobRun]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for run in runs:
        counts[run.job.owner] += len(run.running)
    return counts


def overdue(submitted: Mapping[str, float], started: set[str], now: float, limit_s: float) -> list[str]:
    """Handle keys submitted more than ``limit_s`` before ``now`` (monotonic) that never sent a heartbeat."""
    return [key for key, at in submitted.items() if key not in started and now - at > limit_s]
