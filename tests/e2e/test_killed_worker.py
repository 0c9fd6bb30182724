"""A trial's Ray worker process is SIGKILLed mid-training: the attempt is lost, the trial is retried once and
completes, and the job ends with exactly its budget of trained trials (nothing lost, nothing counted twice).

Real parts only: the in-process :class:`~workers.dispatcher.Dispatcher` drives a real
:class:`~workers.executor.RayExecutor` on a local Ray over a SQLite storage; the worker pid comes from the
first heartbeat, which the dispatcher records as the trial's ``worker`` (``"<node ip>:<pid>"``).
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest

from nas_service.jobspec import JobState, TrialState
from workers.dispatcher import Dispatcher

pytestmark = [pytest.mark.slow, pytest.mark.ray]


def _worker_pid(trial: Any) -> int | None:
    """The pid of the Ray worker running the trial, once its first heartbeat was stored."""
    worker = trial.worker or ""
    if trial.state != TrialState.RUNNING or not trial.node or ":" not in worker:
        return None  # before the first heartbeat, ``worker`` is the dispatcher's claim name
    pid = worker.rsplit(":", 1)[1]
    return int(pid) if pid.isdigit() else None


def test_a_killed_worker_is_retried_and_nothing_is_lost_or_counted_twice(
    sqlite_store: Any, executor: Any, e2e: Any
) -> None:
    store = sqlite_store
    # Four epochs on 400 images: long enough to be killed after its first epoch was stored, mid-training.
    epochs = 4
    spec = e2e.tiny_spec(
        budget={"max_trials": 3, "max_concurrent": 2, "max_attempts": 3},
        proxy={"epochs": epochs, "max_train_samples": 400},
    )
    job_id = e2e.submit(store, spec)
    dispatcher = Dispatcher(store, executor, "e2e-kill", poll_s=0.2, lease_s=60, stale_after_s=120)
    victim: dict[str, Any] = {}

    def worker_known() -> bool:
        for trial in e2e.trials_of(store, job_id):
            pid = _worker_pid(trial)
            if pid is not None and trial.attempts == 1 and 1 <= trial.epochs_run < epochs:
                victim.update(trial=trial, pid=pid)
                return True
        return False

    try:
        e2e.drive(dispatcher, store, job_id, worker_known, 240, "a trial past its first epoch, worker pid known")
        pid, trial = victim["pid"], victim["trial"]
        assert pid not in (os.getpid(), os.getppid())
        assert store.get_trial(trial.id).state == TrialState.RUNNING  # still training: the kill lands mid-run
        os.kill(pid, signal.SIGKILL)
        killed_at = time.monotonic()

        # The lost attempt surfaces as a crash; the trial is requeued and resubmitted as attempt 2. While that
        # runs, the record says what happened to attempt 1.
        seen_errors: list[str] = []

        def retried() -> bool:
            t = store.get_trial(trial.id)
            if t.error:
                seen_errors.append(t.error)
            return t.attempts >= 2

        e2e.drive(dispatcher, store, job_id, retried, 240, f"trial {trial.id} to be retried after the kill")
        assert time.monotonic() >= killed_at
        e2e.drive(dispatcher, store, job_id, e2e.job_done(store, job_id), 400, "the job to finish")
    finally:
        dispatcher.close()

    job = store.get_job(job_id)
    rows = e2e.trials_of(store, job_id)
    assert job.state == JobState.COMPLETED, (job.error, [(t.id, t.state, t.attempts, t.error) for t in rows])
    killed = store.get_trial(trial.id)
    assert killed.state == TrialState.COMPLETED and killed.attempts == 2, killed
    assert killed.accuracy is not None and killed.latency_ms is not None and killed.reward is not None
    assert any("attempt 1" in e and "worker lost" in e for e in seen_errors), seen_errors
    # Exactly the budget was trained, each once; the others ran a single attempt.
    trained = [t for t in rows if t.state not in (TrialState.REJECTED, TrialState.DUPLICATE)]
    assert len(trained) == spec.budget.max_trials
    assert all(t.state == TrialState.COMPLETED for t in trained), [(t.id, t.state, t.error) for t in trained]
    assert sorted(t.attempts for t in trained) == [1] * (len(trained) - 1) + [2]
    assert len({t.arch_hash for t in trained}) == len(trained)
    assert job.trials_completed == spec.budget.max_trials and job.trials_failed == 0
    e2e.assert_counters_match_rows(store, job_id)
    # Epoch metrics: every trained trial has its (current attempt's) epochs 1..n; the killed trial keeps the
    # epochs its first attempt reported as history, separate from the retry's.
    for t in trained:
        assert (
            [m.epoch for m in store.list_metrics(t.id)]
            == list(range(1, epochs + 1))
            == list(range(1, t.epochs_run + 1))
        ), t.id
    history = [(m.attempt, m.epoch) for m in store.list_metrics(trial.id, all_attempts=True)]
    first = [e for a, e in history if a == 1]
    assert first and first == list(range(1, len(first) + 1)) and len(first) < epochs, history
    assert [e for a, e in history if a == 2] == list(range(1, epochs + 1)), history
    told = e2e.assert_history_consistent(store, job_id)
    assert [h["outcome"]["state"] for h in told] == ["completed"] * len(rows)
