"""A database outage mid-job: the dispatcher waits it out and the job completes with nothing lost or counted twice.

A real PostgreSQL server of the test's own is stopped for ``OUTAGE_S`` seconds while trials run (the library
dispatcher with the in-process executor, its trials taking a second per epoch); the API's ``/readyz`` (with the
embedded dispatcher) says ``database unavailable`` without host, port or driver text, then ``ok`` again.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import api.app as app_module
from api.app import create_app
from nas_service.jobspec import JobSpec, JobState, TrialState
from nas_service.orchestration import Dispatcher, InProcessExecutor, TrialPayload, TrialRun, synthetic_trial
from nas_service.orchestration.inprocess import InProcessReporter
from nas_service.settings import Settings
from nas_service.space import tiny_space
from nas_service.storage import SQLAlchemyStorage
from tests.outage.conftest import PgCluster
from workers.dispatcher import EmbeddedDispatcher

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

OUTAGE_S = 12.0
TRIALS = 6
EPOCHS = 3


class _SlowEpochs:
    """The reporter of an attempt whose epochs take ``EPOCH_S`` each (the rest passes through)."""

    def __init__(self, reporter: InProcessReporter, epoch_s: float) -> None:
        self._reporter, self._epoch_s = reporter, epoch_s

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reporter, name)

    def epoch(self, report: Any) -> None:
        time.sleep(self._epoch_s)
        self._reporter.heartbeat()
        self._reporter.epoch(report)


def _slow_trial(payload: TrialPayload, reporter: InProcessReporter) -> TrialRun:
    return synthetic_trial(payload, _SlowEpochs(reporter, 1.0))  # type: ignore[arg-type]


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_the_job_survives_a_database_outage(
    pg_cluster: PgCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = SQLAlchemyStorage(pg_cluster.url)
    spec = JobSpec.model_validate({
        "strategy": {"name": "random", "seed": 0},
        "budget": {"max_trials": TRIALS, "max_concurrent": 2, "max_attempts": 2},
        "proxy": {"dataset": "digits", "resolution": 16, "epochs": EPOCHS},
    })  # fmt: skip
    space = storage.create_space("alice", "tiny", tiny_space().model_dump(mode="json"))
    job_id = storage.create_job("alice", space.id, spec).id
    executor = InProcessExecutor(_slow_trial, threads=2)
    dispatcher = Dispatcher(storage, executor, "d1", lease_s=60.0, poll_s=0.2, data_dir=tmp_path)
    embedded = None
    monkeypatch.setattr(app_module, "start_dispatcher_hook", lambda _settings, _storage: embedded)
    try:
        embedded = EmbeddedDispatcher(dispatcher)
        with TestClient(create_app(Settings(data_dir=tmp_path), storage, start_dispatcher=True)) as client:
            assert client.get("/readyz").json()["status"] == "ok"
            _wait(lambda: storage.get_job(job_id).trials_completed >= 1, 60, "a first completed trial")
            started = storage.get_job(job_id).started_at
            pg_cluster.stop()
            down_at = time.time()
            _wait(lambda: not dispatcher.health.ok, 15, "the dispatcher to notice the outage")
            ready = client.get("/readyz")
            assert ready.status_code == 503 and ready.json()["detail"] == "database unavailable"
            assert str(pg_cluster.port) not in ready.text and "127.0.0.1" not in ready.text
            assert "psycopg" not in ready.text.lower()
            time.sleep(max(0.0, OUTAGE_S - (time.time() - down_at)))
            assert embedded.is_alive()  # never exits on a transient error
            pg_cluster.start()
            up_at = time.time()
            _wait(lambda: storage.get_job(job_id).state != JobState.RUNNING, 120, "the job to finish")
            done_at = time.time()
            assert embedded.is_alive()
            assert client.get("/readyz").json()["status"] == "ok"
        job = storage.get_job(job_id)
        assert job.state == JobState.COMPLETED, job.error
        trials = storage.list_trials(job_id, limit=100).items
        assert len(trials) == TRIALS
        for t in trials:  # nothing lost, nothing counted twice
            assert t.state == TrialState.COMPLETED and t.attempts == 1, (t.id, t.state, t.attempts)
            assert [m.epoch for m in storage.list_metrics(t.id)] == list(range(1, EPOCHS + 1))
        assert job.trials_completed == TRIALS
        assert storage.count_trial_transitions().get("requeued", 0) == 0
        assert started is not None
        print(
            f"\noutage {up_at - down_at:.1f} s; job finished {done_at - up_at:.1f} s after the database came back; "
            f"job wall {done_at - started.timestamp():.1f} s"
        )
    finally:
        if embedded is not None:
            embedded.stop()
        storage.close()
