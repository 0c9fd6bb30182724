"""Crashes inside the windows where the database is ahead of the saved strategy state.

:meth:`nas_service.orchestration.Dispatcher.step` stores trials and results as it goes and saves the strategy's
small state right after each ``ask`` (before any of its trials exists) and once at the end of the step. A
dispatcher killed in between leaves a database ahead of the saved state; the next one rebuilds from the trials by
suggestion id (``JobRun.restore_state``). Each test puts the database in exactly that state with real parts:
dispatcher A (real Ray executor, real training) runs until the moment in question, its Ray work is killed, and
the saved state is rolled back to what A had saved before the write in question. Dispatcher B must then finish
the job with every suggestion told exactly once.

1. A result stored, the state not saved: the suggestion is still pending; B finds its trial terminal and tells
   it (once).
2. A trial created, the state not saved since the ask: the suggestion is pending; B finds its trial by
   suggestion id and awaits it (no matching by parameters).
3. The ask saved, its trial never created: B places the pending suggestion unchanged.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from nas_service.jobspec import TRIAL_TERMINAL, JobState, TrialState
from workers.dispatcher import Dispatcher
from workers.executor import RayExecutor

pytestmark = [pytest.mark.slow, pytest.mark.ray]


def _dispatcher(store: Any, name: str) -> tuple[Dispatcher, RayExecutor]:
    executor = RayExecutor(heartbeat_interval_s=0.5, cancel_grace_s=2.0)
    return Dispatcher(store, executor, name, poll_s=0.3, lease_s=2.0, stale_after_s=120), executor


def _finish_with_b(store: Any, job_id: int, e2e: Any) -> None:
    second, executor = _dispatcher(store, "b")
    try:
        e2e.drive(second, store, job_id, e2e.job_done(store, job_id), 300, "B to finish the job")
    finally:
        second.close()
        executor.shutdown()
    job = store.get_job(job_id)
    rows = e2e.trials_of(store, job_id)
    assert job.state == JobState.COMPLETED, (job.error, [(t.id, t.state, t.attempts, t.error) for t in rows])
    assert all(t.state == TrialState.COMPLETED for t in rows), [(t.id, t.state, t.error) for t in rows]
    e2e.assert_counters_match_rows(store, job_id)
    e2e.assert_history_consistent(store, job_id)  # one told suggestion per trial row


def test_a_crash_after_a_result_was_stored_but_before_the_state_was_saved(
    sqlite_store: Any, ray_session: None, e2e: Any
) -> None:
    store = sqlite_store
    job_id = e2e.submit(store, e2e.tiny_spec(budget={"max_trials": 2, "max_concurrent": 1}))
    first, executor = _dispatcher(store, "a")
    saved: dict[str, Any] = {}

    def running_and_saved() -> bool:
        blob = store.load_strategy_state(job_id)
        rows = e2e.trials_of(store, job_id)
        if blob and blob["strategy"]["pending"] and rows and rows[0].state == TrialState.RUNNING:
            saved["blob"] = copy.deepcopy(blob)
            return True
        return False

    try:
        e2e.drive(first, store, job_id, running_and_saved, 240, "the first trial to run")
        first_trial = e2e.trials_of(store, job_id)[0].id
        e2e.drive(first, store, job_id, lambda: store.get_trial(first_trial).state in TRIAL_TERMINAL, 240, "its result")
    finally:
        executor.shutdown()  # A dies here
    assert len(e2e.trials_of(store, job_id)) == 1
    store.save_strategy_state(job_id, saved["blob"])  # ... before this step's save: the result is not in it
    _finish_with_b(store, job_id, e2e)


def test_a_crash_after_a_trial_was_created_but_before_the_state_was_saved(
    sqlite_store: Any, ray_session: None, e2e: Any
) -> None:
    store = sqlite_store
    job_id = e2e.submit(store, e2e.tiny_spec(budget={"max_trials": 2, "max_concurrent": 1}))
    first, executor = _dispatcher(store, "a")
    try:
        e2e.drive(
            first,
            store,
            job_id,
            lambda: [t.state in TRIAL_TERMINAL for t in e2e.trials_of(store, job_id)] == [True],
            240,
            "the first trial's result",
        )
        # Record the saves of the next step (the real method still runs): the first is the one made right after
        # ask, before the new trial exists; a crash before the step's second save leaves exactly that.
        saves: list[dict[str, Any]] = []
        real_save = store.save_strategy_state

        def recording_save(jid: int, blob: dict[str, Any]) -> None:
            saves.append(copy.deepcopy(blob))
            real_save(jid, blob)

        store.save_strategy_state = recording_save
        try:
            first.step(timeout=0.0)  # asks the second candidate and creates its trial; no wait for its result
        finally:
            del store.save_strategy_state
    finally:
        executor.shutdown()  # A dies here
    rows = e2e.trials_of(store, job_id)
    assert len(rows) == 2 and saves and rows[1].state not in TRIAL_TERMINAL
    assert rows[1].suggestion_id in saves[0]["strategy"]["pending"]  # asked and saved before its trial existed
    store.save_strategy_state(job_id, saves[0])
    _finish_with_b(store, job_id, e2e)


class _Killed(BaseException):
    """Stands for the process dying: not an Exception, so no per-job guard of the dispatcher catches it."""


def test_a_crash_after_the_ask_was_saved_but_before_its_trial_was_created(
    sqlite_store: Any, ray_session: None, e2e: Any
) -> None:
    store = sqlite_store
    job_id = e2e.submit(store, e2e.tiny_spec(budget={"max_trials": 2, "max_concurrent": 1}))
    first, executor = _dispatcher(store, "a")
    try:
        e2e.drive(
            first,
            store,
            job_id,
            lambda: [t.state in TRIAL_TERMINAL for t in e2e.trials_of(store, job_id)] == [True],
            240,
            "the first trial's result",
        )

        def die(*args: Any, **kwargs: Any) -> Any:
            raise _Killed

        store.create_trial = die  # A dies as it is about to create the second trial (its ask is already saved)
        try:
            with pytest.raises(_Killed):
                first.step(timeout=0.0)
        finally:
            del store.create_trial
    finally:
        executor.shutdown()
    assert len(e2e.trials_of(store, job_id)) == 1
    saved = store.load_strategy_state(job_id)
    (asked,) = saved["strategy"]["pending"]  # the durable ask, with no trial
    _finish_with_b(store, job_id, e2e)  # B places it (told once, as trained), nothing told "failed"
    history = e2e.history_of(store, job_id)
    assert [h["outcome"]["state"] for h in history if h["suggestion_id"] == asked] == ["completed"]
