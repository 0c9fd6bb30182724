"""The dashboard's routes without a browser: pages, assets, the compact data endpoints and their auth."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.routes.dashboard import POINT_COLUMNS
from nas_service.client.testing import LiveServer, seed_job
from nas_service.jobspec import JobSpec
from nas_service.storage.testing import make_arch, store_told


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("dash-routes")).start()
    server.job = seed_job(server.storage, 25, seed=4, name="routes", epochs=False)  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture
def http(live: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {live.token}"}, timeout=20) as c:
        yield c


def test_pages_and_assets_need_no_token(live: LiveServer) -> None:
    for path in (
        "/dashboard",
        "/dashboard/jobs/1",
        "/dashboard/static/job.js",
        "/dashboard/static/style.css",
    ):
        assert httpx.get(live.url + path).status_code == 200, path
    for path in (
        "/dashboard/static/../../app.py",
        "/dashboard/static/%2e%2e/%2e%2e/app.py",
        "/dashboard/static/x",
    ):
        assert httpx.get(live.url + path).status_code == 404, path


def test_data_endpoints_need_the_token(live: LiveServer) -> None:
    job_id = live.job.id  # type: ignore[attr-defined]
    for what in ("xy", "points", "scaling"):
        assert httpx.get(f"{live.url}/dashboard/api/jobs/{job_id}/{what}").status_code == 401
    assert (
        httpx.get(
            f"{live.url}/dashboard/api/jobs/987654/xy", headers={"Authorization": f"Bearer {live.token}"}
        ).status_code
        == 404
    )


def test_points_match_the_api_trials_column_by_column(http: httpx.Client, live: LiveServer) -> None:
    job_id = live.job.id  # type: ignore[attr-defined]
    api = http.get(f"/api/v1/jobs/{job_id}/trials", params={"limit": 100}).json()["items"]
    first = http.get(f"/dashboard/api/jobs/{job_id}/points", params={"limit": 10}).json()
    rest = http.get(f"/dashboard/api/jobs/{job_id}/points", params={"offset": 10}).json()
    assert first["total"] == rest["total"] == len(api) == 25
    cols: dict[str, list[Any]] = {k: first["columns"][k] + rest["columns"][k] for k in first["columns"]}
    for i, trial in enumerate(api):
        for name, values in cols.items():
            assert values[i] == trial[name], (name, i)


def test_xy_is_every_completed_trial(http: httpx.Client, live: LiveServer) -> None:
    job = live.job  # type: ignore[attr-defined]
    xy = http.get(f"/dashboard/api/jobs/{job.id}/xy").json()
    assert xy["total"] == job.trials_completed == len(xy["columns"]["id"])


def test_scaling_table_is_rebuilt_from_the_saved_strategy_state(http: httpx.Client, live: LiveServer) -> None:
    from nas_service.jobspec import JobSpec, ScalingConfig, StrategyConfig
    from nas_service.strategies import Outcome
    from nas_service.strategies.registry import make_strategy

    spec = JobSpec(
        name="scaling-routes",
        kind="scaling",
        strategy=StrategyConfig(name="compound-scaling"),
        scaling=ScalingConfig(base=[["ds_r1_k3_s1_c16"], ["ir_r1_k3_s2_e3_c24"]], max_phi=2, grid_step=0.2),
    )
    space_id = live.storage.list_spaces(limit=1).items[0].id
    job = live.storage.create_job("admin", space_id, spec)
    assert http.get(f"/dashboard/api/jobs/{job.id}/scaling").json()["rows"] == []

    strategy = make_strategy(spec.strategy, None, scaling=spec.scaling)
    for step in range(40):  # play the plan through with made-up results
        asked = strategy.ask(1)
        if not asked:
            break
        acc = 0.8 + 0.001 * step
        strategy.tell(asked[0].suggestion_id, Outcome(state="completed", accuracy=acc, latency_ms=1.0 + 0.1 * step))
    told = [(t.suggestion_id, t.params, t.outcome.accuracy, t.outcome.latency_ms) for t in strategy.told()]
    store_told(live.storage, job.id, told)
    live.storage.save_strategy_state(job.id, {"format": "nas-dispatcher/2", "strategy": strategy.state_dict()})
    rows = http.get(f"/dashboard/api/jobs/{job.id}/scaling").json()["rows"]
    assert [r["phi"] for r in rows][-2:] == [1, 2]
    assert rows == strategy.scaling_table()  # type: ignore[attr-defined]


def test_points_pass_block_strings_through_and_null_without_an_architecture(
    http: httpx.Client, live: LiveServer
) -> None:
    space_id = live.storage.list_spaces(limit=1).items[0].id
    job = live.storage.create_job("admin", space_id, JobSpec(name="bare"))
    bare = live.storage.create_trial(job.id, {"k": 1})
    built = live.storage.create_trial(job.id, {"k": 2}, make_arch())
    body = http.get(f"/dashboard/api/jobs/{job.id}/points").json()
    assert body["total"] == 2 and body["offset"] == 0
    assert body["columns"]["id"] == [bare.id, built.id]
    assert body["columns"]["block_strings"] == [None, make_arch().block_strings()]
    assert set(body["columns"]) == set(POINT_COLUMNS)
    empty = http.get(f"/dashboard/api/jobs/{job.id}/points", params={"offset": 5}).json()
    assert empty["total"] == 2 and all(v == [] for v in empty["columns"].values())
