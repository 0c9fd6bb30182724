"""The dispatcher's policy without Ray: the library loop, real storage (both backends), the in-process executor."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from nas_service.jobspec import JobSpec, JobState, TrialState
from nas_service.orchestration import (
    BaseExecutor,
    Dispatcher,
    InProcessExecutor,
    TrialPayload,
    TrialRun,
    synthetic_trial,
    told_history,
)
from nas_service.orchestration.inprocess import InProcessReporter
from nas_service.space import tiny_space
from nas_service.storage.base import BaseStorage
from nas_service.testing import step_until_done


def _spec(**overrides: Any) -> JobSpec:
    base: dict[str, Any] = {
        "strategy": {"name": "random", "seed": 0},
        "budget": {"max_trials": 4, "max_concurrent": 2, "max_attempts": 2},
        "proxy": {"dataset": "digits", "resolution": 16, "epochs": 2},
    }
    for key, value in overrides.items():
        base[key] = {**base.get(key, {}), **value}
    return JobSpec.model_validate(base)


def _job(storage: BaseStorage, spec: JobSpec) -> int:
    space = storage.create_space("alice", "tiny", tiny_space().model_dump(mode="json"))
    return storage.create_job("alice", space.id, spec).id


def _dispatcher(storage: BaseStorage, executor: BaseExecutor, name: str, tmp_path: Path, **kw: Any) -> Dispatcher:
    return Dispatcher(storage, executor, name, poll_s=0.0, data_dir=tmp_path, **kw)


def _drive(d: Dispatcher, storage: BaseStorage, job_id: int, steps: int = 200) -> JobState:
    return step_until_done(d, storage, job_id, steps)


def _trials(storage: BaseStorage, job_id: int) -> list[Any]:
    return list(storage.list_trials(job_id, limit=1000).items)


def test_both_executors_implement_the_protocol() -> None:
    assert isinstance(InProcessExecutor(), BaseExecutor)


@pytest.mark.parametrize("name", ["random", "evolution", "mnas-rl", "tpe", "nsga2"])
def test_a_job_runs_to_completion_in_process(name: str, storage: BaseStorage, tmp_path: Path) -> None:
    settings = {"population": 3, "sample_size": 2} if name == "evolution" else {}
    if name in ("tpe", "nsga2"):
        settings = {"n_startup_trials": 2} if name == "tpe" else {"population_size": 4}
    job_id = _job(storage, _spec(strategy={"name": name, "settings": settings}, budget={"max_trials": 8}))
    assert _drive(_dispatcher(storage, InProcessExecutor(), "d1", tmp_path), storage, job_id) == JobState.COMPLETED
    rows = _trials(storage, job_id)
    trained = [t for t in rows if t.state == TrialState.COMPLETED]
    assert len(trained) == 8 and all(t.attempts == 1 and t.reward is not None for t in trained)
    assert all(t.suggestion_id for t in rows) and len({t.suggestion_id for t in rows}) == len(rows)
    state = storage.load_strategy_state(job_id)
    assert state is not None and state["strategy"]["pending"] == {}
    assert len(told_history(rows)) == len(rows)  # every trial row is one told suggestion
    job = storage.get_job(job_id)
    assert job.error is None  # the whole budget ran: nothing to explain


def test_the_saved_state_does_not_grow_with_the_job(storage: BaseStorage, tmp_path: Path) -> None:
    import json

    sizes = []
    for trials in (5, 40):
        job_id = _job(storage, _spec(strategy={"name": "evolution", "settings": {"population": 4}},
                                     budget={"max_trials": trials}))  # fmt: skip
        _drive(_dispatcher(storage, InProcessExecutor(), f"d{trials}", tmp_path), storage, job_id, steps=400)
        sizes.append(len(json.dumps(storage.load_strategy_state(job_id))))
    assert sizes[1] <= sizes[0] + 200, sizes  # RNG state and ids of a bounded population, not the history


def test_a_new_dispatcher_rebuilds_the_strategy_from_the_trials(storage: BaseStorage, tmp_path: Path) -> None:
    spec = _spec(strategy={"name": "evolution", "settings": {"population": 3, "sample_size": 2}},
                 budget={"max_trials": 10, "max_concurrent": 2})  # fmt: skip
    job_id = _job(storage, spec)
    release = threading.Event()

    def hangs_after_five(payload: TrialPayload, reporter: InProcessReporter) -> TrialRun:
        if int(payload.trial_id) > 5:
            release.wait(10)
        return synthetic_trial(payload, reporter)

    first = InProcessExecutor(hangs_after_five, threads=2)
    dead = _dispatcher(storage, first, "dead", tmp_path, lease_s=0.2)
    for _ in range(200):
        dead.step(timeout=0.01)
        if sum(t.state == TrialState.COMPLETED for t in _trials(storage, job_id)) >= 5:
            break
    release.set()
    first.shutdown()  # "dead" dies: never stepped again, its lease runs out
    time.sleep(0.3)
    second = _dispatcher(storage, InProcessExecutor(), "alive", tmp_path)
    assert _drive(second, storage, job_id) == JobState.COMPLETED
    rows = _trials(storage, job_id)
    assert sum(t.state == TrialState.COMPLETED for t in rows) == 10
    assert len({t.arch_hash for t in rows if t.state == TrialState.COMPLETED}) == 10  # nothing trained twice
    ids = sorted(t.suggestion_id for t in rows)
    assert ids == [f"evolution-{i:06d}" for i in range(len(rows))]  # B continued A's numbering, no id reused
    assert storage.load_strategy_state(job_id)["strategy"]["pending"] == {}  # type: ignore[index]


def test_cancelled_trials_do_not_use_up_the_budget_on_resume(storage: BaseStorage, tmp_path: Path) -> None:
    job_id = _job(storage, _spec(budget={"max_trials": 4, "max_concurrent": 2}))
    gate = threading.Event()

    def waits(payload: TrialPayload, reporter: InProcessReporter) -> TrialRun:
        while not gate.is_set() and not reporter.should_stop():
            gate.wait(0.01)
        return synthetic_trial(payload, reporter)

    executor = InProcessExecutor(waits, threads=2)
    d = _dispatcher(storage, executor, "d1", tmp_path, job_check_s=0.0)
    d.step(timeout=0.0)
    assert sum(t.state == TrialState.RUNNING for t in _trials(storage, job_id)) == 2
    storage.transition_job(job_id, JobState.CANCELLED)
    d.step(timeout=0.2)
    executor.shutdown()
    storage.transition_job(job_id, JobState.QUEUED)  # what POST /jobs/{id}/resume does
    gate.set()
    assert _drive(_dispatcher(storage, InProcessExecutor(), "d2", tmp_path), storage, job_id) == JobState.COMPLETED
    rows = _trials(storage, job_id)
    assert [t.state for t in rows].count(TrialState.CANCELLED) == 2
    assert [t.state for t in rows].count(TrialState.COMPLETED) == 4  # the whole budget, cancelled ones aside
    assert storage.get_job(job_id).error is None


def test_a_job_that_finishes_short_says_why(storage: BaseStorage, tmp_path: Path) -> None:
    job_id = _job(storage, _spec(constraints={"max_params": 10}))
    d = _dispatcher(storage, InProcessExecutor(), "d1", tmp_path, max_skips=3)
    assert _drive(d, storage, job_id) == JobState.COMPLETED
    error = storage.get_job(job_id).error or ""
    assert "finished after 0 of 4 trials" in error and "over the caps" in error, error


def test_asha_rungs_are_rebuilt_from_the_stored_epochs(storage: BaseStorage, tmp_path: Path) -> None:
    from nas_service.orchestration.opening import open_job

    spec = _spec(strategy={"multi_fidelity": "asha", "reduction_factor": 2, "min_epochs": 1},
                 budget={"max_trials": 6, "max_concurrent": 1}, proxy={"epochs": 4})  # fmt: skip
    job_id = _job(storage, spec)
    assert _drive(_dispatcher(storage, InProcessExecutor(), "d1", tmp_path), storage, job_id) == JobState.COMPLETED
    job = storage.get_job(job_id)
    rebuilt = open_job(storage, job)
    assert rebuilt.scheduler is not None
    assert rebuilt.scheduler.rung_sizes()[0] == 6  # every trial reported its first rung


def test_a_placement_cut_by_an_outage_is_placed_once_the_database_is_back(
    storage: BaseStorage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nas_service.storage.errors import StorageUnavailable

    job_id = _job(storage, _spec(budget={"max_trials": 4, "max_concurrent": 2}))
    real, calls = storage.create_trial, {"n": 0}

    def flaky_create(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:  # the second suggestion of the first ask: the database is gone for one write
            raise StorageUnavailable("database unavailable")
        return real(*args, **kwargs)

    monkeypatch.setattr(storage, "create_trial", flaky_create)
    assert _drive(_dispatcher(storage, InProcessExecutor(), "d1", tmp_path), storage, job_id) == JobState.COMPLETED
    rows = _trials(storage, job_id)
    assert calls["n"] >= 5 and len(rows) == 4 and all(t.state == TrialState.COMPLETED for t in rows)
    ids = [t.suggestion_id for t in rows]
    assert "random-000001" in ids and len(set(ids)) == 4  # the cut suggestion was placed, once
    state = storage.load_strategy_state(job_id)
    assert state is not None and state["strategy"]["pending"] == {}


def _cut_once(
    storage: BaseStorage, monkeypatch: pytest.MonkeyPatch, name: str, at: int, commit: bool
) -> dict[str, int]:
    """Make the ``at``-th call of ``storage.<name>`` fail as if the database went away (after writing if ``commit``)."""
    from nas_service.storage.errors import StorageUnavailable

    real, calls = getattr(storage, name), {"n": 0}

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == at:
            if commit:  # the write committed; its answer was lost with the connection
                real(*args, **kwargs)
            raise StorageUnavailable("database unavailable")
        return real(*args, **kwargs)

    monkeypatch.setattr(storage, name, flaky)
    return calls


def _assert_trained_once(storage: BaseStorage, job_id: int, trials: int) -> None:
    rows = _trials(storage, job_id)
    detail = [(t.number, t.state, t.attempts) for t in rows]
    assert storage.get_job(job_id).state == JobState.COMPLETED, detail
    assert len(rows) == trials and all(t.state == TrialState.COMPLETED and t.attempts == 1 for t in rows), detail
    job = storage.get_job(job_id)
    assert job.trials_completed == trials, detail


def test_a_claimed_trial_whose_submission_was_cut_by_an_outage_is_submitted_once_the_database_is_back(
    storage: BaseStorage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The row of the third trial is written claimed (running at attempt 1); the read of the latency cache that
    # precedes its submission fails. It must not stay running with no attempt behind it while the job completes.
    def measuring_trial(payload: TrialPayload, reporter: InProcessReporter) -> TrialRun:
        run = synthetic_trial(payload, reporter)  # as a worker that measured: the controller may look the cache up
        return run.model_copy(update={"latency_runtime": "torch:test", "input_shape": [1, 8, 8], "num_classes": 10})

    job_id = _job(storage, _spec(budget={"max_trials": 4, "max_concurrent": 1}))
    calls = _cut_once(storage, monkeypatch, "get_cached_latency", 2, commit=False)
    executor = InProcessExecutor(runner=measuring_trial)
    assert _drive(_dispatcher(storage, executor, "d1", tmp_path), storage, job_id) == JobState.COMPLETED
    assert calls["n"] >= 3
    _assert_trained_once(storage, job_id, 4)


def test_a_trial_row_written_just_before_an_outage_is_trained_once_and_counted_once(
    storage: BaseStorage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The second trial's row commits but the answer is lost: the dispatcher learns of it only from the database.
    job_id = _job(storage, _spec(budget={"max_trials": 4, "max_concurrent": 2}))
    calls = _cut_once(storage, monkeypatch, "create_trial", 2, commit=True)
    assert _drive(_dispatcher(storage, InProcessExecutor(), "d1", tmp_path), storage, job_id) == JobState.COMPLETED
    assert calls["n"] == 4
    _assert_trained_once(storage, job_id, 4)


def _edge_spec(**budget: Any) -> JobSpec:
    """A job measured on ``edge``, whose measurements a node advertising ``latency:edge`` takes."""
    edge = {"name": "edge", "runtime": "onnxruntime", "resource": "latency:edge"}
    return _spec(latency={"target": "edge", "resolved": {"edge": edge}}, budget=budget)


def test_a_job_whose_latency_node_is_missing_shows_blocked_then_fails_with_the_reason(
    storage: BaseStorage, tmp_path: Path
) -> None:
    job_id = _job(storage, _edge_spec(max_trials=2))
    executor = InProcessExecutor(capacity={"cpu": 8})  # no node advertises latency:edge
    d = _dispatcher(storage, executor, "d1", tmp_path, latency_node_wait_s=0.5)
    d.step()
    job = storage.get_job(job_id)
    assert job.state == JobState.RUNNING and _trials(storage, job_id) == []  # nothing starts
    assert job.error is not None and job.error.startswith(
        "blocked: no node in the Ray cluster advertises the latency resource 'latency:edge' of target 'edge'"
    )
    assert "ray start --resources" in job.error and "fails after 0.5 s" in job.error
    assert _drive(d, storage, job_id, steps=100_000) == JobState.FAILED  # after the wait, with the reason
    error = storage.get_job(job_id).error or ""
    assert "'latency:edge' of target 'edge' (waited 0.5 s)" in error and not error.startswith("blocked")
    assert _trials(storage, job_id) == []


def test_a_blocked_job_starts_once_its_latency_node_joins(storage: BaseStorage, tmp_path: Path) -> None:
    job_id = _job(storage, _edge_spec(max_trials=2))
    executor = InProcessExecutor(capacity={"cpu": 8})
    d = _dispatcher(storage, executor, "d1", tmp_path, latency_node_wait_s=60.0)
    d.step()
    assert (storage.get_job(job_id).error or "").startswith("blocked:")
    executor.capacity = {"cpu": 8, "latency:edge": 1}  # the measuring node joined
    time.sleep(2.1)  # the next check of the cluster's resources
    assert _drive(d, storage, job_id) == JobState.COMPLETED
    job = storage.get_job(job_id)
    assert job.error is None and job.trials_completed == 2
