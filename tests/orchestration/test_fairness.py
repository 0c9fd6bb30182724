"""Resources and fairness in the dispatcher (in-process executor with a capacity, real storage on both backends).

One owner's jobs ask for a resource no worker has: they may hold at most their owner's quota of the dispatcher's
job slots, so another owner's job is claimed at once and completes; theirs become ``unschedulable`` after
``unschedulable_after_s`` and fail with that reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from nas_service.jobspec import JobSpec, JobState, TrialState
from nas_service.orchestration import Dispatcher, InProcessExecutor
from nas_service.orchestration.fairness import OwnerQuotas, resource_cap_problem, resource_caps
from nas_service.settings import Settings
from nas_service.space import tiny_space
from nas_service.storage.base import BaseStorage


def _job(storage: BaseStorage, owner: str, resources: dict[str, float]) -> int:
    spec = JobSpec.model_validate({
        "strategy": {"name": "random", "seed": 0},
        "budget": {"max_trials": 3, "max_concurrent": 2, "max_attempts": 2},
        "proxy": {"dataset": "digits", "resolution": 16, "epochs": 1},
        "resources": resources,
    })  # fmt: skip
    space = storage.create_space(owner, "tiny", tiny_space().model_dump(mode="json"))
    return storage.create_job(owner, space.id, spec).id


def test_an_impossible_resource_cannot_starve_another_owner(storage: BaseStorage, tmp_path: Path) -> None:
    hogs = [_job(storage, "alice", {"cpu": 1, "latency:nowhere": 1}) for _ in range(4)]
    bobs = _job(storage, "bob", {"cpu": 1})  # queued last
    executor = InProcessExecutor(capacity={"cpu": 4})
    d = Dispatcher(
        storage, executor, "d1", max_jobs=3, poll_s=0.0, data_dir=tmp_path, unschedulable_after_s=1.0,
        quotas=OwnerQuotas(max_jobs=2),
    )  # fmt: skip
    for _ in range(400):
        d.step(timeout=0.02)
        if not d.jobs and all(storage.get_job(j).state not in (JobState.RUNNING, JobState.QUEUED) for j in hogs):
            break
    bob = storage.get_job(bobs)
    assert bob.state == JobState.COMPLETED
    # Claimed with alice's first two (her quota of the three slots), not after her jobs had failed.
    alice_started = sorted(t for t in (storage.get_job(j).started_at for j in hogs) if t is not None)
    assert bob.started_at is not None and len(alice_started) == len(hogs) and bob.started_at < alice_started[2]
    for job_id in hogs:
        job = storage.get_job(job_id)
        assert job.state == JobState.FAILED and job.error and job.error.startswith("unschedulable"), job.error
        states = {t.state for t in storage.list_trials(job_id, limit=10).items}
        assert TrialState.UNSCHEDULABLE in states, states


def test_running_attempts_are_shared_between_owners(storage: BaseStorage, tmp_path: Path) -> None:
    alice = [_job(storage, "alice", {"cpu": 1}) for _ in range(2)]
    bob = _job(storage, "bob", {"cpu": 1})
    executor = InProcessExecutor(capacity={})  # nothing starts: the slots stay taken while we look
    d = Dispatcher(
        storage, executor, "d1", max_jobs=3, poll_s=0.0, data_dir=tmp_path, unschedulable_after_s=60,
        quotas=OwnerQuotas(max_jobs=3, max_running=2),
    )  # fmt: skip
    d.step(timeout=0.0)
    running = {job_id: len(run.running) for job_id, run in d.jobs.items()}
    assert sum(running[j] for j in alice) == 2  # alice's quota, though her jobs could run 4
    assert running[bob] == 2


@pytest.mark.parametrize(
    ("resources", "key"),
    [({"foo": 1}, "foo"), ({"cpu": -1}, "cpu"), ({"cpu": float("inf")}, "cpu"), ({"gpu": True}, "gpu")],
)
def test_unknown_or_bad_resources_are_refused_naming_the_key(resources: dict[str, float], key: str) -> None:
    with pytest.raises(ValidationError, match=f"resources.{key}"):
        JobSpec.model_validate({"resources": resources})


def test_resource_caps_come_from_the_settings() -> None:
    caps = resource_caps(Settings(max_cpu_per_trial=8, max_custom_per_trial=2))
    assert resource_cap_problem({"cpu": 1e9}, caps) == ("cpu", "1e+09 is over this server's cap of 8 per trial")
    assert resource_cap_problem({"latency:pixel7": 3}, caps) is not None
    assert resource_cap_problem({"cpu": 8, "latency:pixel7": 1, "memory": 2**30}, caps) is None
