"""Stage two in the dashboard (real Chromium): the Finalize button makes a ``final`` job, whose page shows the
proxy-fidelity panel (summary, proxy-vs-final scatter, per-network table) from ``GET /jobs/{id}/fidelity``."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from nas_service.jobspec import JobState
from nas_service.testing import LiveServer, synthetic_result

pytestmark = [pytest.mark.browser]


def _api(server: LiveServer, path: str) -> Any:
    headers = {"Authorization": f"Bearer {server.token}"}
    return httpx.get(f"{server.url}/api/v1{path}", headers=headers, timeout=60).json()


def test_finalize_button_then_fidelity_panel(page: Any, server: LiveServer, open_job: Callable[..., None]) -> None:
    job = server.job  # type: ignore[attr-defined]
    open_job(page)
    page.locator("#finalize-controls").wait_for(state="visible")
    page.fill("#finalize-k", "2")
    page.fill("#finalize-epochs", "5")
    page.click("#finalize-btn")
    page.wait_for_url(lambda url: "/dashboard/jobs/" in url and not url.endswith(f"/jobs/{job.id}"), timeout=30_000)
    final_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    final = _api(server, f"/jobs/{final_id}")
    assert final["kind"] == "final" and final["spec"]["proxy"]["epochs"] == 5
    sources = final["spec"]["final"]["trial_ids"]
    assert len(sources) == 2

    # Play the final training's results into the storage (no dispatcher here), as a worker would report them.
    storage = server.storage
    storage.transition_job(final_id, JobState.RUNNING)
    rng = random.Random(1)
    for source_id in sources:
        source = storage.get_trial(source_id)
        trial = storage.create_trial(final_id, {"source_trial": source_id}, _arch(source.architecture))
        claimed = storage.claim_trial(final_id, "w")
        storage.report_trial(trial.id, claimed.attempts, synthetic_result(rng), f"final-{trial.id}")
    storage.transition_job(final_id, JobState.COMPLETED)

    page.reload()
    page.wait_for_function("document.getElementById('fidelity-chart').dataset.points === '2'", timeout=30_000)
    fidelity = _api(server, f"/jobs/{final_id}/fidelity")
    summary = page.locator("#fidelity-summary").inner_text()
    assert f"source job {job.id}" in summary and "2 finished of 2" in summary
    assert f"Kendall τ {fidelity['kendall_tau']:.3f}" in summary
    rows = page.locator("#fidelity-table tbody tr")
    assert rows.count() == 2
    assert rows.nth(0).locator("td").first.inner_text() == str(sources[0])
    assert page.locator("#finalize-controls").is_hidden()  # a final job is not finalized again


def _arch(body: dict[str, Any]) -> Any:
    from nas_service.arch.spec import Architecture

    return Architecture.model_validate(body)
