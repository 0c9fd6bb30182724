"""The controller dies hard and a new one takes over: ``nas dispatcher`` runs as a real separate process (with
its own local Ray), is SIGKILLed together with every process it started while a job is half done, and a second
``nas dispatcher`` process finishes the job.

What must hold: trials that finished before the kill keep their ids and results untouched; the ones in flight
are re-run (their attempt count goes up) and complete; exactly ``max_trials`` trials are trained; the saved
strategy history has every suggestion exactly once. Runs on SQLite and on the real PostgreSQL server (skipped
loudly where it is absent).

The kill is taken once the job is half done and a strategy state was saved: the process group is frozen (SIGSTOP),
the database is read, then killed. Any moment is safe since the trials carry their suggestion ids
(``test_recovery_windows.py`` covers each window between a write and the next state save).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nas_service.jobspec import JobState, TrialState
from nas_service.storage import SQLAlchemyStorage

pytestmark = [pytest.mark.slow, pytest.mark.ray]

REPO = Path(__file__).resolve().parents[2]
LEASE_S = 5


def _session_members(sid: int) -> list[int]:
    """Pids of the live processes in session ``sid`` (the dispatcher and everything it started)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state ppid pgrp session ...
        if fields[0] != "Z" and int(fields[3]) == sid:
            pids.append(int(entry))
    return pids


class DispatcherProcess:
    """One ``nas dispatcher`` process in a new session (its local Ray's processes join that session)."""

    def __init__(self, name: str, db_url: str, workdir: Path) -> None:
        self.name = name
        self.log_path = workdir / f"{name}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NAS_", "RAY_ADDRESS"))}
        env.update(
            NAS_DATABASE_URL=db_url,
            NAS_DATA_DIR=str(workdir / "data"),
            RAY_USAGE_STATS_ENABLED="0",
            RAY_AUTH_MODE="disabled",
            # "local": always start its own Ray, never join another `ray start` cluster on this machine
            RAY_ADDRESS="local",
            PYTHONUNBUFFERED="1",
        )
        cmd = [
            sys.executable, "-m", "nas_service.cli.main", "dispatcher", "--id", name, "--num-cpus", "2",
            "--lease", str(LEASE_S), "--stale-after", "120", "--log-level", "INFO",
        ]  # fmt: skip
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in kill()
        self.proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def signal_all(self, sig: int) -> None:
        """Send ``sig`` to the process group and to every other process of the session."""
        sid = self.proc.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(sid, sig)
        for pid in _session_members(sid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def kill(self, timeout: float = 60.0) -> None:
        """SIGKILL the dispatcher and everything in its session; wait until they are gone (bounded)."""
        deadline = time.monotonic() + timeout
        while True:
            self.signal_all(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=1.0)
            if self.proc.poll() is not None and not _session_members(self.proc.pid):
                break
            if time.monotonic() > deadline:
                left = _session_members(self.proc.pid)
                self._log.close()
                pytest.fail(f"processes of dispatcher {self.name} survived SIGKILL: {left}")
        self._log.close()


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Any]:
    """Start ``nas dispatcher`` processes; every one still alive is killed (with its session) at the end."""
    started: list[DispatcherProcess] = []

    def start(name: str, db_url: str) -> DispatcherProcess:
        proc = DispatcherProcess(name, db_url, tmp_path)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each backend (Postgres: the root conftest's throwaway database, skipped loudly)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'nas.db'}"
    return str(request.getfixturevalue("postgres_url"))


def _cli(*args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NAS_")}
    done = subprocess.run(
        [sys.executable, "-m", "nas_service.cli.main", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def _consistent(store: SQLAlchemyStorage, job_id: int, e2e: Any) -> bool:
    """The dispatcher saved a strategy state (it has asked): any moment after that is a fine moment to kill.

    Every trial row carries its suggestion id and every ask is saved before its trial exists, so the next
    dispatcher rebuilds the same history whichever step the kill interrupts (``test_recovery_windows.py``).
    """
    return store.load_strategy_state(job_id) is not None


def test_a_killed_dispatcher_process_is_replaced_and_the_job_finishes(any_db_url: str, spawn: Any, e2e: Any) -> None:
    url = any_db_url
    _cli("db", "upgrade", "--url", url)
    store = SQLAlchemyStorage(url)
    try:
        spec = e2e.tiny_spec(
            budget={"max_trials": 5, "max_concurrent": 2, "max_attempts": 3},
            proxy={"epochs": 2},
        )
        job_id = e2e.submit(store, spec)
        first = spawn("dispatcher-a", url)

        def half_done() -> bool:
            if first.proc.poll() is not None:
                pytest.fail(f"dispatcher A exited with {first.proc.returncode}:\n{first.log_tail()}")
            states = [t.state for t in e2e.trials_of(store, job_id)]
            return states.count(TrialState.COMPLETED) >= 1 and states.count(TrialState.RUNNING) >= 1

        # Freeze the dispatcher (and its Ray) at a moment where a trial completed and one runs, check the
        # saved state while nothing can change, then kill everything it started.
        deadline = time.monotonic() + 400
        while True:
            e2e.wait_for("a completed and a running trial", half_done, max(1.0, deadline - time.monotonic()))
            first.signal_all(signal.SIGSTOP)
            try:
                ready = half_done() and _consistent(store, job_id, e2e)
            except Exception:  # noqa: BLE001 - e.g. SQLite locked by the frozen writer: try again
                ready = False
            if ready:
                break
            first.signal_all(signal.SIGCONT)
            assert time.monotonic() < deadline, "never found a consistent moment to kill the dispatcher"
            time.sleep(0.2)
        before = {t.id: t for t in e2e.trials_of(store, job_id)}
        first.kill()

        finished = {i: t for i, t in before.items() if t.state in (TrialState.COMPLETED, TrialState.PRUNED)}
        in_flight = {i: t for i, t in before.items() if t.state in (TrialState.RUNNING, TrialState.QUEUED)}
        assert finished and in_flight, before
        assert store.get_job(job_id).state == JobState.RUNNING

        second = spawn("dispatcher-b", url)

        def over() -> bool:
            if second.proc.poll() is not None:
                pytest.fail(f"dispatcher B exited with {second.proc.returncode}:\n{second.log_tail()}")
            return store.get_job(job_id).state in e2e.JOB_TERMINAL

        try:
            e2e.wait_for("the second dispatcher to finish the job", over, 500, interval=0.5)
        except BaseException:
            print(f"--- dispatcher A\n{first.log_tail()}\n--- dispatcher B\n{second.log_tail()}")
            raise
        job = store.get_job(job_id)
        rows = e2e.trials_of(store, job_id)
        assert job.state == JobState.COMPLETED, (job.error, [(t.id, t.state, t.attempts, t.error) for t in rows])
        assert job.claimed_by in (None, "dispatcher-b")

        after = {t.id: t for t in rows}
        # Finished trials are untouched: same ids, same results, same attempt, same report.
        for tid, old in finished.items():
            new = after[tid]
            keep = ("state", "accuracy", "latency_ms", "reward", "attempts", "report_key", "finished_at", "arch_hash")
            assert {k: getattr(new, k) for k in keep} == {k: getattr(old, k) for k in keep}, tid
        # In-flight trials were re-run by the second dispatcher and completed.
        for tid, old in in_flight.items():
            new = after[tid]
            assert new.state == TrialState.COMPLETED, (tid, new.state, new.error)
            assert new.attempts == old.attempts + 1, (tid, old.attempts, new.attempts)
            assert new.accuracy is not None and new.latency_ms is not None and new.reward is not None
        trained = [t for t in rows if t.state in e2e.TRAINED_STATES]
        assert len(trained) == spec.budget.max_trials
        assert all(t.state == TrialState.COMPLETED for t in trained), [(t.id, t.state, t.error) for t in trained]
        assert job.trials_completed == spec.budget.max_trials and job.trials_failed == 0
        e2e.assert_counters_match_rows(store, job_id)
        e2e.assert_history_consistent(store, job_id)
    finally:
        store.close()
