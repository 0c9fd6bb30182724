"""End-to-end fixtures and helpers: real Ray, real dispatcher, real training on digits, real databases.

Nothing here stands in for a part of the product: trials are trained by ``workers.trial`` inside Ray tasks
started by :class:`workers.executor.RayExecutor`, driven by :class:`workers.dispatcher.Dispatcher` (in this
process, or as a ``nas dispatcher`` process) over :class:`nas_service.storage.SQLAlchemyStorage` on SQLite
files or the real PostgreSQL server. Trials are kept tiny (digits at 16 px, a few hundred images, one or two
epochs) so one takes a few seconds on the shared two-core machine. Every wait has a hard upper bound; no test
asserts on timings.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

# Before ray is imported anywhere: never phone home; one auth mode for every Ray process these tests start.
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

import pytest  # noqa: E402

from nas_service.jobspec import JOB_TERMINAL, JobSpec, TrialState  # noqa: E402
from nas_service.space import tiny_space  # noqa: E402

T = TypeVar("T")


TRAINED_STATES = [s for s in TrialState if s not in (TrialState.REJECTED, TrialState.DUPLICATE)]


def tiny_spec(**overrides: Any) -> JobSpec:
    """A job on the tiny space sized for a few seconds per trial; ``overrides`` merge into each section."""
    base: dict[str, Any] = {
        "name": "e2e",
        "strategy": {"name": "random", "seed": 0},
        "budget": {"max_trials": 4, "max_concurrent": 2, "max_attempts": 3},
        "proxy": {
            "dataset": "digits",
            "resolution": 16,
            "epochs": 1,
            "batch_size": 64,
            "max_train_samples": 300,
            "threads": 1,
            "device": "cpu",
        },
        "latency": {"device": "cpu", "warmup": 1, "repeats": 3, "threads": 1},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return JobSpec.model_validate(base)


def submit(storage: Any, spec: JobSpec, owner: str = "alice") -> int:
    """Store the tiny space (search jobs) and queue ``spec``; the job id."""
    space_id = None
    if spec.kind == "search":
        space_id = storage.create_space(owner, "tiny", tiny_space().model_dump(mode="json")).id
    return int(storage.create_job(owner, space_id, spec).id)


def trials_of(storage: Any, job_id: int) -> list[Any]:
    """Every trial of the job, by number."""
    return list(storage.list_trials(job_id, limit=10_000).items)


def wait_for(what: str, check: Callable[[], T], timeout: float, interval: float = 0.3) -> T:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def drive(dispatcher: Any, storage: Any, job_id: int, until: Callable[[], bool], timeout: float, what: str) -> None:
    """Step ``dispatcher`` until ``until()`` holds; fail after ``timeout`` seconds with the trials' states."""
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            states = [(t.id, t.state.value, t.attempts, t.error) for t in trials_of(storage, job_id)]
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}; job {job_id}: {states}")
        dispatcher.step()


def job_done(storage: Any, job_id: int) -> Callable[[], bool]:
    """A predicate: the job reached a terminal state."""
    return lambda: storage.get_job(job_id).state in JOB_TERMINAL


def assert_counters_match_rows(storage: Any, job_id: int) -> None:
    """The job's counters equal what its trial rows say (nothing lost, nothing counted twice)."""
    job = storage.get_job(job_id)
    rows = trials_of(storage, job_id)
    by_state = {s: sum(1 for t in rows if t.state == s) for s in TrialState}
    assert job.trials_total == len(rows), (job, rows)
    assert job.trials_completed == by_state[TrialState.COMPLETED]
    assert job.trials_pruned == by_state[TrialState.PRUNED]
    assert job.trials_failed == by_state[TrialState.FAILED]
    assert len({t.number for t in rows}) == len(rows)  # numbers unique


def history_of(storage: Any, job_id: int) -> list[dict[str, Any]]:
    """The job's told history as the strategy rebuilds it from the trial rows (ask order)."""
    from nas_service.orchestration import told_history

    blob = storage.load_strategy_state(job_id) or {}
    pending = (blob.get("strategy") or {}).get("pending")
    return [
        {"suggestion_id": t.suggestion_id, "params": t.params, "outcome": t.outcome.to_dict()}
        for t in told_history(trials_of(storage, job_id), pending)
    ]


def assert_history_consistent(storage: Any, job_id: int) -> list[dict[str, Any]]:
    """Every suggestion told exactly once: each trial row carries its own suggestion id, the ids are exactly
    the ones asked (no gaps, no repeats), and the saved state has none pending. Returns the history."""
    blob = storage.load_strategy_state(job_id)
    assert blob is not None and blob.get("format") == "nas-dispatcher/2", blob
    strategy = blob["strategy"]
    assert strategy["pending"] == {}, strategy["pending"]
    rows = trials_of(storage, job_id)
    ids = [t.suggestion_id for t in rows]
    assert None not in ids, [(t.id, t.suggestion_id) for t in rows]
    assert len(ids) == len(set(ids)), f"two trials of one suggestion: {ids}"
    name = ids[0].rsplit("-", 1)[0] if ids else ""
    assert sorted(ids) == [f"{name}-{i:06d}" for i in range(strategy["next_id"])], (ids, strategy["next_id"])
    history = history_of(storage, job_id)
    assert len(history) == len(rows), (history, rows)
    return history


def ray_dispatcher(store: Any, name: str, lease_s: float = 60.0) -> tuple[Any, Any]:
    """A dispatcher on its own :class:`~workers.executor.RayExecutor` (the session's local Ray), polling fast."""
    from workers.dispatcher import Dispatcher
    from workers.executor import RayExecutor

    executor = RayExecutor(heartbeat_interval_s=0.5, cancel_grace_s=2.0)
    return Dispatcher(store, executor, name, poll_s=0.3, lease_s=lease_s, stale_after_s=120), executor


class Helpers:
    """The helpers above, handed to tests by the ``e2e`` fixture (test modules cannot import a conftest)."""

    tiny_spec = staticmethod(tiny_spec)
    submit = staticmethod(submit)
    trials_of = staticmethod(trials_of)
    wait_for = staticmethod(wait_for)
    drive = staticmethod(drive)
    job_done = staticmethod(job_done)
    assert_counters_match_rows = staticmethod(assert_counters_match_rows)
    assert_history_consistent = staticmethod(assert_history_consistent)
    history_of = staticmethod(history_of)
    ray_dispatcher = staticmethod(ray_dispatcher)
    JOB_TERMINAL = JOB_TERMINAL
    TRAINED_STATES = TRAINED_STATES


@pytest.fixture(scope="session")
def e2e() -> type[Helpers]:
    """The end-to-end helpers (``e2e.tiny_spec(...)``, ``e2e.drive(...)``, ...)."""
    return Helpers


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """One local Ray runtime (2 CPUs, no dashboard) shared by the in-process end-to-end tests."""
    import ray

    started = not ray.is_initialized()
    if started:
        # "local": a fresh runtime even where another `ray start` cluster on this machine would be joined
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    if started:
        ray.shutdown()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Any]:
    """A migrated SQLite storage in a temporary file."""
    from nas_service.storage import SQLAlchemyStorage
    from nas_service.storage.schema import upgrade

    url = f"sqlite:///{tmp_path / 'nas.db'}"
    upgrade(url)
    store = SQLAlchemyStorage(url)
    yield store
    store.close()


@pytest.fixture
def executor(ray_session: None) -> Iterator[Any]:
    """A real :class:`~workers.executor.RayExecutor` on the session's Ray (its own trial channel)."""
    from workers.executor import RayExecutor

    ex = RayExecutor(heartbeat_interval_s=0.5, cancel_grace_s=2.0)
    yield ex
    ex.shutdown()
