"""``nas dispatcher``: runs a queued job to completion and stops cleanly on SIGTERM.

The command runs in this process (on the session's local Ray, which it then leaves running) rather than as a
subprocess: a second Ray start would double the test's time on a shared machine.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nas_service.artifacts import DatabaseArtifactStore, trial_weights_key
from nas_service.cli.main import app
from nas_service.jobspec import JobSpec, JobState
from nas_service.settings import get_settings
from nas_service.space import tiny_space
from nas_service.storage import SQLAlchemyStorage
from nas_service.storage.schema import upgrade


def test_dispatcher_command_is_registered() -> None:
    result = CliRunner().invoke(app, ["dispatcher", "--help"])
    assert result.exit_code == 0 and "Claim queued jobs" in result.output


@pytest.mark.ray
def test_dispatcher_command_runs_a_job_and_stops_on_sigterm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ray_local: None
) -> None:
    url = f"sqlite:///{tmp_path / 'nas.db'}"
    upgrade(url)
    store = SQLAlchemyStorage(url)
    spec = JobSpec.model_validate(
        {
            "budget": {"max_trials": 1, "max_concurrent": 1},
            "proxy": {"dataset": "digits", "resolution": 16, "epochs": 1, "max_train_samples": 200},
            "latency": {"device": "cpu", "warmup": 1, "repeats": 3},
        }
    )
    space = store.create_space("alice", "tiny", tiny_space().model_dump(mode="json"))
    job_id = store.create_job("alice", space.id, spec).id
    monkeypatch.setenv("NAS_DATABASE_URL", url)
    monkeypatch.setenv("NAS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("NAS_RAY_ADDRESS", raising=False)
    get_settings.cache_clear()
    outcome: dict[str, object] = {}

    def stop_when_done() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            state = store.get_job(job_id).state
            if state not in (JobState.QUEUED, JobState.RUNNING):
                break
            time.sleep(0.3)
        outcome["state"] = store.get_job(job_id).state
        os.kill(os.getpid(), signal.SIGTERM)  # the command's handler turns it into a clean stop

    watcher = threading.Thread(target=stop_when_done, daemon=True)
    watcher.start()
    try:
        result = CliRunner().invoke(app, ["dispatcher", "--lease", "10"])
    finally:
        watcher.join(timeout=130)
        get_settings.cache_clear()
        store.close()
    assert result.exit_code == 0, result.output
    assert outcome["state"] == JobState.COMPLETED
    assert "dispatcher stopped" in result.output
    # The command's dispatcher stores trained weights in the database (the default artifact store).
    reader = SQLAlchemyStorage(url)
    try:
        (trial,) = reader.list_trials(job_id).items
        assert DatabaseArtifactStore(reader.engine).exists(trial_weights_key(trial.id))
    finally:
        reader.close()
