"""Lease fencing between two in-process dispatchers (real storage, both backends; no Ray).

The first dispatcher is stuck in its executor poll past its lease (as when paused with SIGSTOP) while a second
one takes the job over and re-runs the lost attempts; then the first one's attempts die and it handles their
events. Before fencing it failed the new owner's running attempt and requeued it (the new owner then ran two
attempts of one trial at once); now its writes are refused and it drops the job quietly.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from nas_service.jobspec import JobSpec, JobState, TrialState
from nas_service.orchestration import Dispatcher, InProcessExecutor, TrialPayload, TrialRun, synthetic_trial
from nas_service.orchestration.inprocess import InProcessReporter
from nas_service.space import tiny_space
from nas_service.storage.base import BaseStorage

LEASE_S = 0.6


def _gated(gate: threading.Event, crash: bool) -> Any:
    def runner(payload: TrialPayload, reporter: InProcessReporter) -> TrialRun:
        reporter.heartbeat()
        assert gate.wait(30)
        if crash:
            raise RuntimeError("worker lost")
        return synthetic_trial(payload, reporter)

    return runner


def test_a_paused_dispatcher_never_touches_the_new_owners_attempts(storage: BaseStorage, tmp_path: Path) -> None:
    spec = JobSpec.model_validate({
        "strategy": {"name": "random", "seed": 0},
        "budget": {"max_trials": 4, "max_concurrent": 2, "max_attempts": 3},
        "proxy": {"dataset": "digits", "resolution": 16, "epochs": 2},
    })  # fmt: skip
    space = storage.create_space("alice", "tiny", tiny_space().model_dump(mode="json"))
    job_id = storage.create_job("alice", space.id, spec).id
    old_gate, new_gate = threading.Event(), threading.Event()
    ex1 = InProcessExecutor(_gated(old_gate, crash=True), threads=2)
    ex2 = InProcessExecutor(_gated(new_gate, crash=False), threads=2)
    d1 = Dispatcher(storage, ex1, "d1", lease_s=LEASE_S, poll_s=0.0, data_dir=tmp_path)
    d2 = Dispatcher(storage, ex2, "d2", lease_s=30.0, poll_s=0.0, data_dir=tmp_path)
    try:
        for _ in range(5):  # d1 claims the job, starts two attempts, stores their first heartbeats
            d1.step(timeout=0.05)
        first = {t.id: t for t in storage.list_trials(job_id, limit=10).items}
        assert len(first) == 2 and all(t.state == TrialState.RUNNING and t.attempts == 1 for t in first.values())

        paused = threading.Thread(target=d1.step, kwargs={"timeout": 20.0})  # blocks in poll: "SIGSTOPped"
        paused.start()
        time.sleep(LEASE_S * 1.5)
        for _ in range(5):  # d2 takes the expired lease over and re-runs both trials (attempt 2)
            d2.step(timeout=0.05)
        job = storage.get_job(job_id)
        assert job.claimed_by == "d2"
        taken = {t.id: t for t in storage.list_trials(job_id, limit=10).items if t.id in first}
        assert all(t.state == TrialState.RUNNING and t.attempts == 2 for t in taken.values())

        old_gate.set()  # d1's attempts die; d1 wakes up and handles their crash events
        paused.join(30)
        assert not paused.is_alive()
        d1.step(timeout=0.2)
        assert d1.jobs == {}  # it dropped the job quietly
        after = {t.id: t for t in storage.list_trials(job_id, limit=10).items if t.id in first}
        assert all(t.state == TrialState.RUNNING and t.attempts == 2 for t in after.values()), after
        assert storage.get_job(job_id).state == JobState.RUNNING

        new_gate.set()
        for _ in range(400):
            d2.step(timeout=0.02)
            if storage.get_job(job_id).state != JobState.RUNNING:
                break
        assert storage.get_job(job_id).state == JobState.COMPLETED
        trials = storage.list_trials(job_id, limit=10).items
        assert len(trials) == 4
        for t in trials:
            assert t.state == TrialState.COMPLETED
            assert t.attempts == (2 if t.id in first else 1)  # no third attempt: nobody requeued a live one
            curve = [m.epoch for m in storage.list_metrics(t.id)]
            assert curve == [1, 2], (t.id, curve)  # every completed trial keeps its epoch curve
    finally:
        old_gate.set()
        new_gate.set()
        ex1.shutdown()
        ex2.shutdown()
