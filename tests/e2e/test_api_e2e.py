"""Through the real HTTP app: a job submitted with ``POST /api/v1/jobs`` is picked up by the embedded
dispatcher (``create_app(start_dispatcher=True)`` -> ``workers.dispatcher.start_embedded``, a real Ray executor on
the session's local Ray) and runs to completion; the API then shows its trials and results."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from nas_service.settings import Settings
from nas_service.storage import TokenScope

pytestmark = [pytest.mark.slow, pytest.mark.ray]


def test_a_job_posted_to_the_api_is_run_by_the_embedded_dispatcher(
    sqlite_store: Any, ray_session: None, e2e: Any, tmp_path: Path
) -> None:
    store = sqlite_store
    headers = {"Authorization": f"Bearer {store.create_token('alice', TokenScope.USER, name='e2e').token}"}
    spec = e2e.tiny_spec(name="via-api", budget={"max_trials": 2, "max_concurrent": 2})
    body = {**spec.model_dump(mode="json", exclude_unset=True), "space": "tiny"}
    del body["proxy"]["resolution"]  # the tiny space searches 16/24 px itself (a proxy resolution is refused)
    settings = Settings(data_dir=tmp_path / "data", ray_address=None)
    app = create_app(settings, store, start_dispatcher=True)
    with TestClient(app) as client:
        handle = app.state.dispatcher
        assert handle is not None and handle.is_alive()
        created = client.post("/api/v1/jobs", json=body, headers=headers)
        assert created.status_code in (200, 201), created.text
        job_id = created.json()["id"]
        deadline = time.monotonic() + 300
        while True:
            job = client.get(f"/api/v1/jobs/{job_id}", headers=headers).json()
            if job["state"] in ("completed", "failed", "cancelled"):
                break
            if not handle.is_alive():
                pytest.fail(f"the embedded dispatcher stopped: {handle.error}")
            if time.monotonic() > deadline:
                pytest.fail(f"job {job_id} did not finish in 300 s: {job}")
            time.sleep(0.5)
        trials = client.get(f"/api/v1/jobs/{job_id}/trials", headers=headers).json()["items"]
        assert handle.is_alive()
    assert job["state"] == "completed", job
    assert job["counters"]["completed"] == 2 and job["counters"]["total"] == 2, job["counters"]
    assert job["best_reward"] is not None and job["best_trial_id"] in {t["id"] for t in trials}
    assert [t["state"] for t in trials] == ["completed", "completed"], trials
    assert all(t["accuracy"] is not None and t["latency_ms"] and t["reward"] is not None for t in trials), trials
    e2e.assert_counters_match_rows(store, job_id)
    e2e.assert_history_consistent(store, job_id)
