"""Crashes inside the two windows where the database is ahead of the saved strategy state.

:meth:`workers.dispatcher.Dispatcher.step` stores trials and results as it goes but saves the strategy state
(``JobRun.save_state``) once, at the end of the step, after waiting up to ``poll_s`` for executor events. A
dispatcher killed in between leaves a database that is ahead of the saved state; the next dispatcher is meant
to reconcile the two (``JobRun.restore_state``). Each test here puts the database in exactly that state with
real parts: dispatcher A (real Ray executor, real training) runs until the moment in question, its Ray work is
killed, and the saved state is rolled back to what A had saved before the step that stored the new row (which
is what a kill before the end of that step leaves). Dispatcher B must then finish the job with every
suggestion told exactly once.

The first window (a result stored, not saved) failed the job with a KeyError until ``JobRun.restore_state``
stopped telling such a suggestion twice. The second (a trial created, not saved) lost the trial's outcome until
the dispatcher saved right after ``ask`` and ``restore_state`` learned to adopt such trials by their parameters;
its test rolls back to exactly that post-``ask`` save, the latest state a crash in that window can leave.
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
        if blob and blob["suggestions"] and rows and rows[0].state == TrialState.RUNNING:
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
    assert str(rows[1].id) not in saves[0]["suggestions"]  # the new trial is unknown to that save
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
    history = store.load_strategy_state(job_id)["strategy"]["history"]
    assert [h["outcome"]["state"] for h in history if h["suggestion_id"] == asked] == ["completed"]
