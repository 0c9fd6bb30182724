"""The NetAdapt panel of the job page (real Chromium): a ``kind: netadapt`` job's page shows
``GET /jobs/{id}/netadapt`` (summary, one row per step, the step in progress) and follows it live; a search
job's page never shows the panel."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from nas_service.jobspec import JobState
from nas_service.testing import LiveServer, seed_netadapt

pytestmark = [pytest.mark.browser]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"

NETADAPT = {
    "base": [["ds_r1_k3_s1_c16"], ["ir_r2_k5_s2_e6_c32"], ["ir_r2_k3_s2_e6_c40"]],
    "budget_fraction": 0.8,
}


def _api(server: LiveServer, path: str) -> Any:
    headers = {"Authorization": f"Bearer {server.token}"}
    return httpx.get(f"{server.url}/api/v1{path}", headers=headers, timeout=60).json()


def test_netadapt_panel_shows_the_steps_live_and_opens_their_trials(
    page: Any, server: LiveServer, open_job: Callable[..., None]
) -> None:
    headers = {"Authorization": f"Bearer {server.token}"}
    r = httpx.post(
        f"{server.url}/api/v1/jobs", headers=headers, json={"kind": "netadapt", "netadapt": NETADAPT}, timeout=60
    )
    assert r.status_code == 201, r.text
    job = r.json()
    server.storage.transition_job(job["id"], JobState.RUNNING)

    # Before any trial: running, no finished step, the base network's training as the step in progress.
    open_job(page, job["id"])
    panel = page.locator("#netadapt-panel")
    page.wait_for_function("document.getElementById('netadapt-panel').dataset.status === 'running'", timeout=30_000)
    assert panel.is_visible()
    assert page.locator("#netadapt-table tbody tr[data-step]").count() == 0
    assert page.locator("#netadapt-table tbody tr.in-progress").inner_text().count("base network") == 1

    # The strategy runs to the budget while the page is open: the event stream brings the finished table.
    seed_netadapt(server.storage, job["id"])
    server.storage.transition_job(job["id"], JobState.COMPLETED)
    page.wait_for_function("document.getElementById('netadapt-panel').dataset.status === 'met'", timeout=30_000)
    body = _api(server, f"/jobs/{job['id']}/netadapt")
    assert body["status"] == "met" and body["steps"] and body["proposals"] == []
    summary = page.locator("#netadapt-summary").inner_text()
    assert summary.startswith("met") and f"budget {body['budget_ms']:.3f} ms" in summary
    assert f"base {body['base']['latency_ms']:.3f} ms" in summary
    assert f"now {body['current']['latency_ms']:.3f} ms" in summary
    rows = page.locator("#netadapt-table tbody tr")
    assert rows.count() == len(body["steps"])
    assert page.locator("#netadapt-table tbody tr.in-progress").count() == 0
    for i, step in enumerate(body["steps"]):
        cells = rows.nth(i).locator("td")
        chosen = step["chosen"]
        assert cells.nth(0).inner_text() == str(step["step"])
        assert cells.nth(2).inner_text() == f"stage {chosen['stage']} {chosen['kind']} ×{chosen['notches']}"
        assert cells.nth(3).inner_text() == f"{chosen['latency_ms']:.3f}"
        assert cells.nth(8).inner_text() == f"{step['completed']} / {step['asked']}"
        assert cells.nth(9).inner_text() == str(chosen["trial_id"])
    ARTIFACTS.mkdir(exist_ok=True)
    panel.screenshot(path=str(ARTIFACTS / "dashboard-netadapt.png"))

    # A step's trial id opens that trial in the trial panel.
    last = body["steps"][-1]["chosen"]["trial_id"]
    rows.nth(len(body["steps"]) - 1).locator("button[data-trial-id]").click()
    number = _api(server, f"/trials/{last}")["number"]
    page.locator("#trial-title").filter(has_text=f"Trial #{number}").wait_for(timeout=10_000)

    # Stage two from the page: the network NetAdapt kept (finalize by netadapt), not the best-reward trial.
    assert "netadapt" in page.locator("#job-meta").inner_text()  # the strategy it runs, not spec.strategy.name
    page.locator("#finalize-k").fill("1")
    page.locator("#finalize-btn").click()
    page.wait_for_url(lambda url: not url.endswith(f"/jobs/{job['id']}"), timeout=15_000)
    final_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    final = _api(server, f"/jobs/{final_id}")
    assert final["kind"] == "final" and final["spec"]["final"]["by"] == "netadapt"
    assert final["spec"]["final"]["trial_ids"] == [body["current"]["trial_id"]]


def test_netadapt_panel_stays_hidden_for_a_search_job(
    page: Any, server: LiveServer, open_job: Callable[..., None]
) -> None:
    open_job(page)
    page.wait_for_timeout(500)  # the job's own requests have settled
    assert page.locator("#netadapt-panel").is_hidden()
    assert page.locator("#netadapt-table tbody tr").count() == 0
