"""Lease fencing with real processes: a ``nas dispatcher`` paused (SIGSTOP) past its short lease while a second
``nas dispatcher`` takes its job over, then resumed (SIGCONT).

What must hold: the resumed dispatcher drops the job quietly (its writes are refused, it fails or requeues
nothing of the new owner's: no trial ever fails, each paused trial is re-run exactly once), the job completes,
exactly ``max_trials`` trials are trained, the counters match the rows and every completed trial keeps its epoch
curve. On the real PostgreSQL server (skipped loudly where absent).
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest

from nas_service.jobspec import JobState, TrialState
from nas_service.storage import SQLAlchemyStorage
from tests.e2e.test_controller_restart import LEASE_S, _cli, spawn  # noqa: F401 - spawn is a fixture

pytestmark = [pytest.mark.slow, pytest.mark.ray, pytest.mark.postgres]


def test_a_paused_dispatcher_resumes_without_touching_the_new_owners_trials(
    postgres_url: str,
    spawn: Any,  # noqa: F811 - the fixture imported above
    e2e: Any,
) -> None:
    url = postgres_url
    _cli("db", "upgrade", "--url", url)
    store = SQLAlchemyStorage(url)
    try:
        spec = e2e.tiny_spec(budget={"max_trials": 5, "max_concurrent": 2, "max_attempts": 3}, proxy={"epochs": 3})
        job_id = e2e.submit(store, spec)
        first = spawn("dispatcher-a", url)

        def running() -> bool:
            if first.proc.poll() is not None:
                pytest.fail(f"dispatcher A exited with {first.proc.returncode}:\n{first.log_tail()}")
            return any(t.state == TrialState.RUNNING for t in e2e.trials_of(store, job_id))

        e2e.wait_for("a running trial under dispatcher A", running, 400)
        os.kill(first.proc.pid, signal.SIGSTOP)  # the dispatcher only: its Ray workers go on
        paused = {t.id: t for t in e2e.trials_of(store, job_id) if t.state == TrialState.RUNNING}
        second = spawn("dispatcher-b", url)
        try:
            e2e.wait_for(
                "dispatcher B to take the job over",
                lambda: store.get_job(job_id).claimed_by == "dispatcher-b",
                LEASE_S * 20 + 120,
            )
            e2e.wait_for(
                "dispatcher B to re-run a paused trial",
                lambda: any(store.get_trial(i).attempts > paused[i].attempts for i in paused),
                300,
            )
        finally:
            os.kill(first.proc.pid, signal.SIGCONT)

        def over() -> bool:
            if second.proc.poll() is not None:
                pytest.fail(f"dispatcher B exited with {second.proc.returncode}:\n{second.log_tail()}")
            return store.get_job(job_id).state in e2e.JOB_TERMINAL

        try:
            e2e.wait_for("dispatcher B to finish the job", over, 600, interval=0.5)
        except BaseException:
            print(f"--- dispatcher A\n{first.log_tail()}\n--- dispatcher B\n{second.log_tail()}")
            raise
        time.sleep(1.0)
        job = store.get_job(job_id)
        rows = e2e.trials_of(store, job_id)
        detail = [(t.id, t.state, t.attempts, t.error) for t in rows]
        assert job.state == JobState.COMPLETED, (job.error, detail)
        assert first.proc.poll() is None, first.log_tail()  # A lives on: it only dropped the job
        logs = first.log_path.read_text(errors="replace") + second.log_path.read_text(errors="replace")
        # Whichever dispatcher noticed it had lost the lease dropped the job (under load the lease can move
        # back and forth; each time the loser's writes are refused); nobody failed a trial for the other.
        assert "the lease moved" in logs or "lost the claim" in logs, logs[-4000:]
        for t in rows:
            assert t.state != TrialState.FAILED, detail
        for tid, old in paused.items():  # re-run once by B; nobody requeued B's live attempt into another
            assert store.get_trial(tid).attempts == old.attempts + 1, (tid, old.attempts, detail)
        for t in rows:
            if t.state == TrialState.COMPLETED:  # every completed trial keeps its epoch curve
                curve = [m.epoch for m in store.list_metrics(t.id)]
                assert curve == list(range(1, t.epochs_run + 1)) and curve, (t.id, curve)
        trained = [t for t in rows if t.state in e2e.TRAINED_STATES]
        assert len(trained) == spec.budget.max_trials
        assert all(t.state == TrialState.COMPLETED for t in trained), detail
        e2e.assert_counters_match_rows(store, job_id)
        e2e.assert_history_consistent(store, job_id)
        print(
            f"\nfencing: paused {len(paused)} running trial(s); attempts {[(t.id, t.attempts) for t in rows]}; "
            f"finished by {job.claimed_by or 'released'}; counters {store.count_trial_transitions()}"
        )
    finally:
        store.close()
