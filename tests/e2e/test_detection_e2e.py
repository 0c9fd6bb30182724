"""Detection jobs through the real HTTP app: ``POST /api/v1/jobs`` with ``task: detection``, the embedded
dispatcher on the session's local Ray trains real detectors on synthetic shapes (``detection`` runner), and the
API then shows the trials (mAP as accuracy, the MnasNet reward) and, for a scaling job, its scaling table.
Trials are tiny (64 px, 8 training images, one epoch) so both jobs take seconds per trial."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from nas_service.arch.detection import DetectionArchitecture
from nas_service.detection.space import shapes_detection_space
from nas_service.settings import Settings
from nas_service.storage import TokenScope

pytestmark = [pytest.mark.slow, pytest.mark.ray]

TINY_PROXY = {
    "resolution": 64,
    "epochs": 1,
    "train_images": 8,
    "val_images": 4,
    "batch_size": 4,
    "device": "cpu",
    "threads": 1,
}


def _body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "det-e2e",
        "task": "detection",
        "strategy": {"name": "random", "seed": 0},
        "budget": {"max_trials": 2, "max_concurrent": 2, "max_attempts": 2},
        "latency": {"device": "cpu", "warmup": 1, "repeats": 2, "threads": 1},
        "detection": {"space": "detection-shapes", "proxy": TINY_PROXY},
    }
    return {**body, **overrides}


@pytest.fixture
def service(sqlite_store: Any, ray_session: None, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], Any]]:
    """The app with its embedded dispatcher (a real Ray executor), and Alice's headers."""
    headers = {"Authorization": f"Bearer {sqlite_store.create_token('alice', TokenScope.USER, name='e2e').token}"}
    app = create_app(Settings(data_dir=tmp_path / "data", ray_address=None), sqlite_store, start_dispatcher=True)
    with TestClient(app) as client:
        yield client, headers, app.state.dispatcher


def _run(service: tuple[TestClient, dict[str, str], Any], body: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    client, headers, handle = service
    created = client.post("/api/v1/jobs", json=body, headers=headers)
    assert created.status_code == 201, created.text
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
    return job, trials


def test_a_detection_search_runs_end_to_end(service: Any, sqlite_store: Any, e2e: Any) -> None:
    job, trials = _run(service, _body())
    assert job["state"] == "completed", job
    assert [t["state"] for t in trials] == ["completed", "completed"], [t.get("error") for t in trials]
    for t in trials:
        assert 0.0 <= t["accuracy"] <= 1.0 and t["latency_ms"] and t["reward"] is not None  # mAP-based reward
        full = service[0].get(f"/api/v1/trials/{t['id']}", headers=service[1]).json()
        arch = DetectionArchitecture.model_validate(full["architecture"])
        assert arch.resolution == 64 and arch.num_classes == 3
    assert job["best_reward"] is not None
    e2e.assert_counters_match_rows(sqlite_store, job["id"])
    e2e.assert_history_consistent(sqlite_store, job["id"])


def test_a_detection_scaling_job_runs_end_to_end(service: Any) -> None:
    base = {**shapes_detection_space().template.model_dump(mode="json"), "fpn_channels": 16, "fpn_repeats": 1}
    body = _body(
        name="det-scale-e2e",
        kind="scaling",
        budget={"max_trials": 4, "max_concurrent": 2, "max_attempts": 2},
        detection={"scaling": {"rule": "formula", "base": base, "phis": [0, 1]}, "proxy": TINY_PROXY},
    )
    job, trials = _run(service, body)
    assert job["state"] == "completed", job
    assert [t["state"] for t in trials] == ["completed", "completed"], [t.get("error") for t in trials]
    client, headers, _ = service
    table = client.get(f"/api/v1/jobs/{job['id']}/scaling", headers=headers).json()
    family = table["family"]
    assert [(r["phi"], r["fpn_channels"], r["fpn_repeats"]) for r in family] == [(0, 16, 1), (1, 24, 2)]
    assert all(r["state"] == "completed" and r["accuracy"] is not None and r["latency_ms"] for r in family)
    assert family[1]["params"] > family[0]["params"]
