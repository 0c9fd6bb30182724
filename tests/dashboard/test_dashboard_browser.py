"""The dashboard in a real browser (Debian chromium via Playwright) against a live controller.

A job with 200 seeded trials is served by the real app on 127.0.0.1; the job page must draw exactly the API's
Pareto front, show block strings on hover, open the trial panel on click, and re-score in the page when T
changes, without a request. A screenshot goes to ``artifacts/dashboard-job.png`` (CI keeps it).
"""

from __future__ import annotations

import random
from pathlib import Path

import httpx
import pytest

from nas_service.client import Client
from nas_service.jobspec import EpochReport, JobState
from nas_service.testing import LiveServer, seed_job, synthetic_result

LOADED = "window.__nasFrontDrawnAt != null && window.__nasTrialsLoadedAt != null"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
#: The server's search views, which the page re-fetches (only they) when T, alpha or beta change.
VIEW_PATHS = ("/history", "/importance")

pytestmark = [pytest.mark.browser]


def test_job_page_draws_the_api_front_hover_click_and_rescore(page, server: LiveServer, open_job) -> None:  # type: ignore[no-untyped-def]
    job_id = server.job.id  # type: ignore[attr-defined]
    with Client(url=server.url, token=server.token) as client:
        api_front = client.pareto(job_id)
    open_job(page)
    canvas = page.locator("#pareto")

    # The page draws exactly the server's front (same trials), over every completed trial.
    assert set(server.twins) <= {p.trial_id for p in api_front.points}  # type: ignore[attr-defined]
    assert int(canvas.get_attribute("data-front-count")) == len(api_front.points)
    assert sorted(page.evaluate("window.__nasDashboard.frontIds()")) == sorted(p.trial_id for p in api_front.points)
    assert int(canvas.get_attribute("data-point-count")) == server.job.trials_completed  # type: ignore[attr-defined]
    assert page.locator("#front-legend").inner_text().startswith(f"Pareto front: {len(api_front.points)} points")

    # Hover a front point: the tooltip shows its block strings.
    point = api_front.points[len(api_front.points) // 2]
    pos = page.evaluate(f"window.__nasDashboard.pointPosition({point.trial_id})")
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + pos["x"], box["y"] + pos["y"])
    tooltip = page.locator("#tooltip")
    tooltip.wait_for(state="visible")
    text = tooltip.inner_text()
    assert f"trial #{point.number}" in text
    for stage in point.block_strings:
        assert " ".join(stage) in text

    # Click it: the trial panel shows the per-stage block table and the epoch curve's data.
    page.mouse.click(box["x"] + pos["x"], box["y"] + pos["y"])
    page.locator("#trial-title").filter(has_text=f"Trial #{point.number}").wait_for()
    rows = page.locator("#stage-table tbody tr")
    assert rows.count() == sum(len(stage) for stage in point.block_strings)
    # The table shows the server's decoding (GET /trials/{id} -> blocks), not a parser of the page's own.
    detail = httpx.get(
        f"{server.url}/api/v1/trials/{point.trial_id}", headers={"Authorization": f"Bearer {server.token}"}
    )
    first = detail.json()["blocks"][0][0]
    cells = [rows.first.locator("td").nth(i).inner_text() for i in range(10)]
    assert cells[1] == point.block_strings[0][0]
    assert cells[2:6] == [
        first["type"],
        str(first["repeats"]),
        "/".join(map(str, first["kernel_sizes"])),
        f"{first['expansion']:g}",
    ]
    assert cells[7] == str(first["out_channels"])
    assert "samples" in page.locator("#latency-summary").inner_text()

    # Re-score in the page: no request may leave, colours and the best trial change.
    before_colour = page.evaluate(f"window.__nasDashboard.colorOf({point.trial_id})")
    before_best = canvas.get_attribute("data-best-trial")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.fill("#target-ms", "0.5")
    page.fill("#alpha", "-0.5")
    page.fill("#beta", "-1")
    page.wait_for_function("document.getElementById('pareto').dataset.target === '0.5'")
    after_colour = page.evaluate(f"window.__nasDashboard.colorOf({point.trial_id})")
    assert (after_colour, canvas.get_attribute("data-best-trial")) != (before_colour, before_best)
    assert int(canvas.get_attribute("data-front-count")) == len(api_front.points)  # the front is T-free
    # Re-scored in the page; only the server's views (history, importance) are asked again.
    assert [u for u in requests if not any(p in u.split("?")[0] for p in VIEW_PATHS)] == []

    # The hypervolume follows the page's T: the server's, re-scored with the same T, and its reference shown.
    with Client(url=server.url, token=server.token) as client:
        rescored = client.pareto(job_id, target_ms=0.5, alpha=-0.5, beta=-1)
    hv = page.locator("#hv-legend")
    assert float(hv.get_attribute("data-value")) == pytest.approx(rescored.hypervolume, rel=1e-9)
    assert float(hv.get_attribute("data-ref-latency")) == pytest.approx(rescored.reference.latency_ms, rel=1e-12)
    assert f"latency {rescored.reference.latency_ms:.3f} ms" in hv.inner_text()
    page.fill("#target-ms", "40")
    page.wait_for_function("document.getElementById('pareto').dataset.target === '40'")
    assert float(hv.get_attribute("data-ref-latency")) == pytest.approx(80.0)  # 2 * T beyond the front
    with Client(url=server.url, token=server.token) as client:
        assert float(hv.get_attribute("data-value")) == pytest.approx(client.pareto(job_id, target_ms=40).hypervolume)

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-job.png"), full_page=True)


def test_trial_table_sorts_filters_and_pages(page, server: LiveServer, open_job) -> None:  # type: ignore[no-untyped-def]
    open_job(page)
    summary = page.locator("#trials-summary")
    assert summary.inner_text() == "201 of 201 trials"
    page.select_option("#trial-state-filter", "failed")
    failed = 201 - server.job.trials_completed  # type: ignore[attr-defined]
    assert summary.inner_text() == f"{failed} of 201 trials"
    page.select_option("#trial-state-filter", "")
    page.check("#front-only")
    front = int(page.locator("#pareto").get_attribute("data-front-count"))
    assert summary.inner_text() == f"{front} of 201 trials"
    page.uncheck("#front-only")
    with Client(url=server.url, token=server.token) as client:
        numbers = [t.number for t in client.trials(server.job.id, sort="number")]  # type: ignore[attr-defined]
    page.click("#trials-table th[data-key=number]")  # ascending by number
    first_cell = page.locator("#trials-table tbody tr").first.locator("td").first
    assert first_cell.inner_text() == str(numbers[0])
    page.click("#trials-next")
    assert first_cell.inner_text() == str(numbers[50])


def test_jobs_list_links_to_the_job(page, server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    job = server.job  # type: ignore[attr-defined]
    page.goto(f"{server.url}/dashboard")
    row = page.locator("#jobs-table tbody tr", has_text="seeded-search").first
    row.wait_for()
    # The id column comes first (the CLI works by id), then the name linking to the job.
    assert page.locator("#jobs-table thead th").first.inner_text() == "ID"
    assert row.locator("td").first.inner_text() == str(job.id)
    assert "completed" in row.inner_text()
    row.locator("a").click()
    page.wait_for_function(LOADED, timeout=30_000)
    assert page.url.endswith(f"/dashboard/jobs/{job.id}")


def test_live_updates_arrive_over_the_authenticated_stream(page, server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    storage = server.storage
    job = seed_job(storage, 20, seed=8, name="live-job", finish=False, epochs=False)
    stream_headers: list[dict[str, str]] = []
    page.on("request", lambda r: stream_headers.append(r.headers) if r.url.endswith("/events") else None)
    page.goto(f"{server.url}/dashboard/jobs/{job.id}")
    page.wait_for_function(LOADED, timeout=30_000)
    page.locator("#live-legend").filter(has_text="live").wait_for()
    canvas = page.locator("#pareto")
    before = int(canvas.get_attribute("data-point-count"))

    rng = random.Random(99)
    for _ in range(3):
        trial = storage.create_trial(job.id, {})
        claimed = storage.claim_trial(job.id, "w")
        storage.report_trial(trial.id, claimed.attempts, synthetic_result(rng), f"live-{trial.id}")
    page.wait_for_function(
        f"Number(document.getElementById('pareto').dataset.pointCount) === {before + 3}", timeout=20_000
    )
    storage.transition_job(job.id, JobState.COMPLETED)
    page.locator("#job-meta").filter(has_text="completed").wait_for(timeout=20_000)

    # The stream is read with fetch() and the token travels in the header, never in the URL.
    assert stream_headers and stream_headers[0].get("authorization") == f"Bearer {server.token}"


def test_live_epoch_progress_shows_in_the_table(page, server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    storage = server.storage
    job = seed_job(storage, 5, seed=11, name="epochs-job", finish=False, epochs=False)
    trial = storage.create_trial(job.id, {})
    assert storage.claim_trial(job.id, "w") is not None
    page.goto(f"{server.url}/dashboard/jobs/{job.id}")
    page.wait_for_function(LOADED, timeout=30_000)
    page.locator("#live-legend").filter(has_text="live").wait_for()
    page.select_option("#trial-state-filter", "running")
    row = page.locator("#trials-table tbody tr").first
    storage.report_epoch(trial.id, EpochReport(epoch=1, val_accuracy=0.5))
    row.filter(has_text="epoch 1/3").wait_for(timeout=20_000)
    storage.report_epoch(trial.id, EpochReport(epoch=2, val_accuracy=0.91))
    row.filter(has_text="epoch 2/3 · val 91.00%").wait_for(timeout=20_000)
    storage.transition_job(job.id, JobState.CANCELLED)
    page.locator("#job-meta").filter(has_text="cancelled").wait_for(timeout=20_000)
