"""The documented scale-out, as real processes: ``nas serve --no-dispatcher`` and a ``nas dispatcher`` with its
own data dir share only the database; a trial the dispatcher trained exports through the API with its weights.

Runs on a SQLite file and on the real PostgreSQL server (skipped loudly where it is absent). The dispatcher starts
its own local Ray (``RAY_ADDRESS=local``); both processes are stopped (their sessions killed) at the end.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from nas_service.jobspec import JobState, TrialState
from nas_service.storage import SQLAlchemyStorage, TokenScope
from nas_service.storage.schema import upgrade
from nas_service.testing import free_port

pytestmark = [pytest.mark.slow, pytest.mark.ray]

REPO = Path(__file__).resolve().parents[2]


class Process:
    """A ``nas`` command in its own session (so it and everything it starts can be killed together)."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nas_service.cli.main", *args],
            cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def tail(self) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-30:])

    def stop(self) -> None:
        """SIGTERM, then SIGKILL the whole session if it has not ended within 20 s."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        self._log.close()


def _env(db_url: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NAS_", "RAY_ADDRESS"))}
    env.update(
        NAS_DATABASE_URL=db_url,
        NAS_DATA_DIR=str(data_dir),
        RAY_USAGE_STATS_ENABLED="0",
        RAY_AUTH_MODE="disabled",
        RAY_ADDRESS="local",  # its own Ray, never another `ray start` cluster on this machine
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database both processes use, upgraded to head as an operator would (``nas db upgrade``)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'shared.db'}"
    else:
        url = str(request.getfixturevalue("postgres_url"))
    upgrade(url)
    return url


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for proc in started:
        proc.stop()


def test_a_separate_dispatcher_hosts_trials_export_through_the_api(
    shared_db: str, tmp_path: Path, processes: list[Process], e2e: Any
) -> None:
    api_dir, worker_dir = tmp_path / "api-host", tmp_path / "worker-host"
    port = free_port()
    api = Process(
        ["serve", "--no-dispatcher", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        _env(shared_db, api_dir), tmp_path / "serve.log",
    )  # fmt: skip
    processes.append(api)
    store = SQLAlchemyStorage(shared_db)
    try:
        token = store.create_token("alice", TokenScope.USER, name="scale-out test").token
        job_id = e2e.submit(store, e2e.tiny_spec(budget={"max_trials": 2, "max_concurrent": 2}))
        worker = Process(
            ["dispatcher", "--num-cpus", "2", "--lease", "10", "--log-level", "WARNING"],
            _env(shared_db, worker_dir), tmp_path / "dispatcher.log",
        )  # fmt: skip
        processes.append(worker)
        e2e.wait_for(
            f"the job to end (dispatcher log:\n{worker.tail()})",
            lambda: store.get_job(job_id).state in e2e.JOB_TERMINAL or worker.proc.poll() is not None,
            timeout=240,
        )
        job = store.get_job(job_id)
        assert job.state == JobState.COMPLETED, (job.error, worker.tail())
        trials = e2e.trials_of(store, job_id)
        assert [t.state for t in trials] == [TrialState.COMPLETED] * 2
    finally:
        store.close()

    base = f"http://127.0.0.1:{port}"
    e2e.wait_for(f"the API to answer (log:\n{api.tail()})", lambda: _ok(base + "/healthz"), timeout=60)
    from nas_service.client import Client

    with Client(url=base, token=token) as client:
        for trial in trials:
            out = tmp_path / f"export-{trial.id}"
            written = client.export(trial.id, out, format="torchscript")
            # The trained weights (not a random net) and their preprocessing, both from the shared database.
            assert set(written) == {"torchscript", "weights", "preprocessing"}, written
    # Neither host wrote them to its own disk: they live in the shared database.
    assert not (api_dir / "artifacts").exists() and not (worker_dir / "artifacts").exists()


def _ok(url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(url, timeout=2).status_code == 200
    return False
