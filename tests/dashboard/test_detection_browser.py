"""A detection job's page (real Chromium) says what its accuracy axis holds: mAP, in the plot's title, the table
header and the trial panel, and the trial panel summarises the detector (levels, BiFPN, heads, anchors)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from nas_service.detection.space import shapes_detection_space
from nas_service.jobspec import JobState, LatencyMeasurement, TrialResult, TrialState
from nas_service.testing import LiveServer

pytestmark = [pytest.mark.browser]

PROXY = {"resolution": 64, "epochs": 1, "train_images": 8, "val_images": 4, "batch_size": 4}


def test_a_detection_jobs_page_speaks_of_map_and_shows_the_detector(page: Any, server: LiveServer) -> None:
    headers = {"Authorization": f"Bearer {server.token}"}
    body = {"name": "det", "task": "detection", "detection": {"proxy": PROXY}}
    r = httpx.post(f"{server.url}/api/v1/jobs", headers=headers, json=body, timeout=60)
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]
    storage = server.storage
    storage.transition_job(job_id, JobState.RUNNING)
    arch = shapes_detection_space().template
    trial = storage.create_trial(job_id, {}, arch, params_count=1000, macs=10_000, claimer="d1")
    latency = LatencyMeasurement(device="cpu:test", median_ms=4.0, p90_ms=4.4, mean_ms=4.1, samples=3)
    storage.report_trial(trial.id, 1, TrialResult(state=TrialState.COMPLETED, accuracy=0.3125, latency=latency), "k")
    storage.transition_job(job_id, JobState.COMPLETED)

    page.goto(f"{server.url}/dashboard/jobs/{job_id}")
    page.locator("#pareto-title").filter(has_text="Pareto front: mAP vs latency").wait_for(timeout=30_000)
    assert page.locator('#trials-table th[data-key="accuracy"]').inner_text().startswith("mAP")
    row = page.locator(f'#trials-table tbody tr[data-id="{trial.id}"]')
    row.wait_for(timeout=30_000)
    assert "31.25%" in row.inner_text()
    row.click()
    page.locator("#trial-title").filter(has_text=f"Trial #{trial.number}").wait_for(timeout=10_000)
    kv = page.locator("#trial-kv").inner_text()
    assert "mAP@[.5:.95]" in kv and "31.25%" in kv
    assert f"P{arch.min_level}-P{arch.max_level} · BiFPN {arch.fpn_channels} ch x{arch.fpn_repeats}" in kv
    assert page.locator("#epoch-title").inner_text() == "Validation mAP per epoch"
