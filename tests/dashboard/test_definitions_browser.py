"""The dashboard's JavaScript definitions against the Python ones, in real Chromium, on the shared cases.

``tests/cases/definition_cases.json`` holds inputs and the results of :func:`nas_service.reward.mnasnet_reward`,
:func:`nas_service.pareto.pareto_front`, :func:`nas_service.pareto.hypervolume_2d` and
:func:`nas_service.pareto.front_reference_latency`; the page's ``nas.reward``, ``nasCharts.paretoFront``,
``nasCharts.hypervolume2d`` and ``nasCharts.referenceLatency`` must agree on every case.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nas_service.testing import LiveServer

CASES = json.loads((Path(__file__).parents[1] / "cases" / "definition_cases.json").read_text())

pytestmark = [pytest.mark.browser]


def _load_scripts(page: Any, server: LiveServer) -> None:
    page.goto(f"{server.url}/dashboard")  # loads common.js
    page.add_script_tag(url=f"{server.url}/dashboard/static/charts.js")
    page.wait_for_function("window.nas && window.nasCharts")


def test_js_reward_matches_python_on_every_shared_case(page: Any, server: LiveServer) -> None:
    _load_scripts(page, server)
    got = page.evaluate(
        "cases => cases.map(c => window.nas.reward(c.acc, c.lat, c.T, c.alpha, c.beta))", CASES["reward"]
    )
    assert len(got) == len(CASES["reward"]) > 100
    for case, value in zip(CASES["reward"], got, strict=True):
        assert value == pytest.approx(case["expected"], rel=1e-12, abs=1e-15), case


def test_js_front_hypervolume_and_reference_match_python(page: Any, server: LiveServer) -> None:
    _load_scripts(page, server)
    got = page.evaluate(
        """cases => cases.map(c => {
            const pts = c.points.map((p, i) => ({i: i, accuracy: p[0], latency: p[1]}));
            const front = window.nasCharts.paretoFront(pts, p => p.latency).map(p => p.i).sort((a, b) => a - b);
            const ref = window.nasCharts.referenceLatency(front.map(i => c.points[i][1]), c.T);
            const hv = window.nasCharts.hypervolume2d(front.map(i => c.points[i]), ref);
            const hvAll = window.nasCharts.hypervolume2d(c.points, ref);
            return {front: front, ref: ref, hv: hv, hvAll: hvAll};
        })""",
        CASES["pareto"],
    )
    for case, js in zip(CASES["pareto"], got, strict=True):
        assert js["front"] == case["front"]
        assert js["ref"] == pytest.approx(case["reference_latency"], rel=1e-15)
        assert js["hv"] == pytest.approx(case["hypervolume"], rel=1e-12)
        assert js["hvAll"] == pytest.approx(case["hypervolume"], rel=1e-12)  # dominated points add nothing


def test_the_block_string_parser_is_gone_from_the_dashboard(page: Any, server: LiveServer) -> None:
    _load_scripts(page, server)
    assert page.evaluate("typeof window.nasCharts.decodeBlock") == "undefined"
    static = Path(__file__).parents[2] / "api" / "dashboard" / "static"
    for script in static.glob("*.js"):
        assert "decodeBlock" not in script.read_text(), script.name
