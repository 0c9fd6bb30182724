"""The job page's search views and front interactions in real Chromium, checked against the API.

History (best reward, hypervolume by trial), parallel coordinates, choice importance; on the front: wheel
zoom, drag pan, shift+drag box-select into the table, log latency axis, PNG export.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from nas_service.testing import LiveServer

pytestmark = [pytest.mark.browser]


def _api(server: LiveServer, path: str, **params: Any) -> Any:
    headers = {"Authorization": f"Bearer {server.token}"}
    return httpx.get(f"{server.url}/api/v1{path}", params=params, headers=headers, timeout=60).json()


def _canvas_point(page: Any, fx: float, fy: float) -> tuple[float, float]:
    """Screen coordinates of a fraction (fx, fy) of the plot area of the front's canvas."""
    box = page.locator("#pareto").bounding_box()
    v = page.evaluate("window.__nasDashboard.view()")
    return box["x"] + v["left"] + fx * v["width"], box["y"] + v["top"] + fy * v["height"]


def test_history_view_follows_the_server_and_the_page_t(
    page: Any, server: LiveServer, open_job: Callable[..., None]
) -> None:
    job = server.job  # type: ignore[attr-defined]
    open_job(page)
    chart = page.locator("#history-chart")
    page.wait_for_function(f"document.getElementById('history-chart').dataset.count === '{job.trials_completed}'")
    pareto = _api(server, f"/jobs/{job.id}/pareto")
    best = _api(server, f"/jobs/{job.id}/best", k=1)["trials"][0]
    assert float(chart.get_attribute("data-last-hv")) == pytest.approx(pareto["hypervolume"])
    assert float(chart.get_attribute("data-last-best")) == pytest.approx(best["reward"])
    assert f"latency {pareto['reference']['latency_ms']:.3f} ms" in page.locator("#history-legend").inner_text()
    # A T typed into the page re-fetches the history under it.
    page.fill("#target-ms", "0.8")
    rescored = _api(server, f"/jobs/{job.id}/pareto", target_ms=0.8)
    page.wait_for_function(
        f"Math.abs(Number(document.getElementById('history-chart').dataset.lastHv) - {rescored['hypervolume']}) < 1e-9"
    )
    assert "T = 0.800 ms" in page.locator("#history-legend").inner_text()


def test_parallel_coordinates_draw_every_completed_trial_over_the_varying_choices(
    page: Any, server: LiveServer, open_job: Callable[..., None]
) -> None:
    job = server.job  # type: ignore[attr-defined]
    choices = _api(server, f"/jobs/{job.id}/choices")
    open_job(page)
    page.wait_for_function("Number(document.getElementById('parallel-chart').dataset.lines) > 0")
    chart = page.locator("#parallel-chart")
    assert int(chart.get_attribute("data-axes")) == len(choices["parameters"]) + 1  # + the reward axis
    assert int(chart.get_attribute("data-lines")) == len(choices["trial_ids"]) == job.trials_completed
    assert f"{len(choices['parameters'])} varying choices" in page.locator("#parallel-legend").inner_text()


def test_importance_lists_optunas_ranking_and_switches_evaluator(
    page: Any, server: LiveServer, open_job: Callable[..., None]
) -> None:
    job = server.job  # type: ignore[attr-defined]
    open_job(page)
    items = page.locator("#importance-list li[data-name]")
    items.first.wait_for(timeout=60_000)
    api = _api(server, f"/jobs/{job.id}/importance")
    assert [i.get_attribute("data-name") for i in items.all()] == [x["name"] for x in api["importances"]]
    assert "PED-ANOVA" in page.locator("#importance-meta").inner_text()
    page.select_option("#importance-evaluator", "fanova")
    page.locator("#importance-meta").filter(has_text="fANOVA").wait_for(timeout=120_000)
    fanova = _api(server, f"/jobs/{job.id}/importance", evaluator="fanova")
    assert [i.get_attribute("data-name") for i in items.all()] == [x["name"] for x in fanova["importances"]]


def test_wheel_zooms_drag_pans_and_double_click_resets(page: Any, open_job: Callable[..., None]) -> None:
    open_job(page)
    full = page.evaluate("window.__nasDashboard.view()")
    x, y = _canvas_point(page, 0.5, 0.5)
    page.mouse.move(x, y)
    page.mouse.wheel(0, -300)
    page.wait_for_function("document.getElementById('pareto').dataset.zoomed === '1'")
    zoomed = page.evaluate("window.__nasDashboard.view()")
    assert zoomed["x1"] - zoomed["x0"] < 0.9 * (full["x1"] - full["x0"])
    assert zoomed["y1"] - zoomed["y0"] < 0.9 * (full["y1"] - full["y0"])
    assert zoomed["x0"] <= (full["x0"] + full["x1"]) / 2 <= zoomed["x1"]  # zoomed around the cursor
    # Drag 100 px to the right: the data moves with the mouse, the visible range shifts left by 100 px' worth.
    page.mouse.down()
    page.mouse.move(x + 50, y, steps=3)
    page.mouse.move(x + 100, y, steps=3)
    page.mouse.up()
    page.wait_for_timeout(50)
    panned = page.evaluate("window.__nasDashboard.view()")
    shift = 100 / zoomed["width"] * (zoomed["x1"] - zoomed["x0"])
    assert panned["x0"] == pytest.approx(zoomed["x0"] - shift, rel=1e-3)
    assert panned["y0"] == pytest.approx(zoomed["y0"], abs=1e-9)
    page.dblclick("#pareto")
    page.wait_for_function("document.getElementById('pareto').dataset.zoomed === '0'")
    assert page.evaluate("window.__nasDashboard.view()")["x0"] == pytest.approx(full["x0"])


def test_shift_drag_selects_points_into_the_table(page: Any, open_job: Callable[..., None]) -> None:
    open_job(page)
    x0, y0 = _canvas_point(page, 0.05, 0.05)
    x1, y1 = _canvas_point(page, 0.45, 0.95)
    box = page.locator("#pareto").bounding_box()
    positions = page.evaluate("window.__nasDashboard.positions()")
    inside = {
        int(i)
        for i, (px, py) in positions.items()
        if x0 - box["x"] <= px <= x1 - box["x"] and y0 - box["y"] <= py <= y1 - box["y"]
    }
    assert 3 <= len(inside) < len(positions)
    page.keyboard.down("Shift")
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=3)
    page.mouse.move(x1, y1, steps=3)
    page.mouse.up()
    page.keyboard.up("Shift")
    assert set(page.evaluate("window.__nasDashboard.selection()")) == inside
    assert page.locator("#trials-summary").inner_text().startswith(f"{len(inside)} of ")
    rows = page.locator("#trials-table tbody tr")
    assert {int(r.get_attribute("data-id")) for r in rows.all()} <= inside
    page.click("#clear-selection")
    assert page.evaluate("window.__nasDashboard.selection()") is None
    assert page.locator("#trials-summary").inner_text() == "201 of 201 trials"


def test_log_latency_axis_maps_latency_logarithmically(
    page: Any, server: LiveServer, open_job: Callable[..., None]
) -> None:
    open_job(page)
    page.check("#log-latency")
    page.wait_for_function("document.getElementById('pareto').dataset.log === '1'")
    v = page.evaluate("window.__nasDashboard.view()")
    assert v["log"] is True
    front = _api(server, f"/jobs/{server.job.id}/pareto")["points"]  # type: ignore[attr-defined]
    for p in (front[0], front[-1]):
        x = page.evaluate(f"window.__nasDashboard.pointPosition({p['trial_id']})")["x"]
        expected = (
            v["left"] + (math.log(p["latency_ms"]) - math.log(v["x0"])) / math.log(v["x1"] / v["x0"]) * v["width"]
        )
        assert x == pytest.approx(expected, abs=0.01)
    ticks = [float(t) for t in page.evaluate("window.__nasDashboard.xTicks()")]
    assert ticks and all(round(t / 10 ** math.floor(math.log10(t)), 6) in (1, 2, 5) for t in ticks)


def test_png_export_saves_the_canvas(page: Any, open_job: Callable[..., None]) -> None:
    open_job(page)
    with page.expect_download() as info:
        page.click("#export-png")
    download = info.value
    assert download.suggested_filename.endswith(".png")
    data = Path(download.path()).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == tuple(
        page.evaluate("[document.getElementById('pareto').width, document.getElementById('pareto').height]")
    )
