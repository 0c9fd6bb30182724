"""``nas dispatcher`` (a real process with its own local Ray) outlives a database outage mid-job.

The throwaway PostgreSQL cluster is stopped for ``OUTAGE_S`` seconds while trials train: the dispatcher process
keeps running (before, it exited with ``StorageError ... Connection refused``), logs ``database unavailable``
without host or port, and the job completes with every trial trained once and counted once.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from nas_service.jobspec import JobState, TrialState
from nas_service.storage import SQLAlchemyStorage
from tests.e2e.test_controller_restart import spawn  # noqa: F401 - a fixture
from tests.outage.conftest import PgCluster, pg_cluster  # noqa: F401 - pg_cluster is a fixture

pytestmark = [pytest.mark.slow, pytest.mark.ray, pytest.mark.postgres]

OUTAGE_S = 15.0


def test_nas_dispatcher_survives_a_database_outage(
    pg_cluster: PgCluster,  # noqa: F811 - the fixture imported above
    spawn: Any,  # noqa: F811 - the fixture imported above
    e2e: Any,
) -> None:
    store = SQLAlchemyStorage(pg_cluster.url)
    try:
        spec = e2e.tiny_spec(budget={"max_trials": 4, "max_concurrent": 2, "max_attempts": 2}, proxy={"epochs": 3})
        job_id = e2e.submit(store, spec)
        proc = spawn("dispatcher-a", pg_cluster.url)

        def first_done() -> bool:
            if proc.proc.poll() is not None:
                pytest.fail(f"the dispatcher exited with {proc.proc.returncode}:\n{proc.log_tail()}")
            return any(t.state == TrialState.COMPLETED for t in e2e.trials_of(store, job_id))

        e2e.wait_for("a completed trial", first_done, 400)
        pg_cluster.stop()
        down_at = time.time()
        time.sleep(OUTAGE_S)
        assert proc.proc.poll() is None, proc.log_tail()  # still running through the outage
        pg_cluster.start()
        up_at = time.time()

        def over() -> bool:
            if proc.proc.poll() is not None:
                pytest.fail(f"the dispatcher exited with {proc.proc.returncode}:\n{proc.log_tail()}")
            return store.get_job(job_id).state in e2e.JOB_TERMINAL

        e2e.wait_for("the job to finish", over, 400, interval=0.5)
        done_at = time.time()
        job = store.get_job(job_id)
        rows = e2e.trials_of(store, job_id)
        detail = ([(t.id, t.state, t.attempts, t.error) for t in rows], proc.log_tail(60))
        assert job.state == JobState.COMPLETED, (job.error, detail)
        trained = [t for t in rows if t.state in e2e.TRAINED_STATES]
        assert len(trained) == spec.budget.max_trials, detail
        for t in trained:
            assert t.state == TrialState.COMPLETED, detail
            assert [m.epoch for m in store.list_metrics(t.id)] == list(range(1, t.epochs_run + 1)), t.id
        e2e.assert_counters_match_rows(store, job_id)
        e2e.assert_history_consistent(store, job_id)
        log = proc.log_path.read_text(errors="replace")
        assert "database unavailable" in log and str(pg_cluster.port) not in log.split("database unavailable")[1]
        print(
            f"\nnas dispatcher: outage {up_at - down_at:.1f} s; job done {done_at - up_at:.1f} s after the database "
            f"came back; attempts {[(t.id, t.attempts) for t in rows]}"
        )
    finally:
        store.close()
