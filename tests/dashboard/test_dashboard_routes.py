"""The dashboard's routes without a browser: pages, assets, the compact data endpoints and their auth."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.routes.dashboard import POINT_COLUMNS
from nas_service.jobspec import JobSpec
from nas_service.storage.testing import make_arch, store_told
from nas_service.testing import LiveServer, seed_job


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
    from nas_service.strategies.scaling import scaling_report

    assert rows == scaling_report(spec, {"strategy": strategy.state_dict()}, strategy.told())["family"]


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


def test_trial_detail_serves_the_blocks_decoded_by_the_python_codec(http: httpx.Client, live: LiveServer) -> None:
    from nas_service.arch import decode_stages

    trial = http.get(f"/api/v1/jobs/{live.job.id}/trials", params={"limit": 1}).json()["items"][0]  # type: ignore[attr-defined]
    detail = http.get(f"/api/v1/trials/{trial['id']}").json()
    assert detail["blocks"] == [
        [b.model_dump(mode="json") for b in stage] for stage in decode_stages(detail["block_strings"])
    ]
    assert detail["resolution"] == detail["architecture"]["resolution"]


def test_history_ends_at_the_fronts_hypervolume_and_best_reward(http: httpx.Client, live: LiveServer) -> None:
    job_id = live.job.id  # type: ignore[attr-defined]
    for params in ({}, {"target_ms": 0.7, "alpha": -0.3, "beta": -0.9}):
        history = http.get(f"/api/v1/jobs/{job_id}/history", params=params).json()
        pareto = http.get(f"/api/v1/jobs/{job_id}/pareto", params=params).json()
        best = http.get(f"/api/v1/jobs/{job_id}/best", params={"k": 1, **params}).json()["trials"][0]
        assert len(history["number"]) == live.job.trials_completed  # type: ignore[attr-defined]
        assert history["number"] == sorted(history["number"])
        assert history["hypervolume"][-1] == pytest.approx(pareto["hypervolume"])
        assert history["reference"] == pareto["reference"]
        assert history["best_reward"][-1] == pytest.approx(best["reward"])
        assert all(a <= b for a, b in zip(history["best_reward"], history["best_reward"][1:], strict=False))
        assert all(a <= b + 1e-12 for a, b in zip(history["hypervolume"], history["hypervolume"][1:], strict=False))


def test_choices_are_codes_into_the_varying_values(http: httpx.Client, live: LiveServer) -> None:
    job_id = live.job.id  # type: ignore[attr-defined]
    body = http.get(f"/api/v1/jobs/{job_id}/choices").json()
    trials = {t["id"]: t for t in http.get(f"/api/v1/jobs/{job_id}/trials", params={"limit": 100}).json()["items"]}
    assert len(body["trial_ids"]) == live.job.trials_completed  # type: ignore[attr-defined]
    assert body["parameters"] and all(len(p["values"]) > 1 for p in body["parameters"])
    for param in body["parameters"]:
        for i, trial_id in enumerate(body["trial_ids"]):
            code = body["codes"][param["name"]][i]
            assert param["values"][code] == trials[trial_id]["params"][param["name"]]
    assert body["reward"] == pytest.approx([trials[i]["reward"] for i in body["trial_ids"]])


def test_importance_uses_optuna_and_is_cached_per_completed_count(http: httpx.Client, live: LiveServer) -> None:
    from nas_service import insights

    job_id = live.job.id  # type: ignore[attr-defined]
    first = http.get(f"/api/v1/jobs/{job_id}/importance").json()
    assert first["evaluator"] == "ped-anova" and first["n_trials"] == live.job.trials_completed  # type: ignore[attr-defined]
    names = [i["name"] for i in first["importances"]]
    choices = {p["name"] for p in http.get(f"/api/v1/jobs/{job_id}/choices").json()["parameters"]}
    assert names and set(names) <= choices
    assert sum(i["importance"] for i in first["importances"]) == pytest.approx(1.0)
    key = (job_id, live.job.trials_completed, "ped-anova", 2.0, -0.07, -0.07)  # type: ignore[attr-defined]
    assert insights.IMPORTANCE_CACHE.get(key) is not None
    assert http.get(f"/api/v1/jobs/{job_id}/importance").json() == first
    bad = http.get(f"/api/v1/jobs/{job_id}/importance", params={"evaluator": "shap"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "query.evaluator"


def test_xy_as_float64_columns_equals_the_json(http: httpx.Client, live: LiveServer) -> None:
    import struct

    job_id = live.job.id  # type: ignore[attr-defined]
    cols = http.get(f"/dashboard/api/jobs/{job_id}/xy").json()["columns"]
    raw = http.get(f"/dashboard/api/jobs/{job_id}/xy", params={"format": "f64"})
    n = len(cols["id"])
    assert raw.headers["content-type"] == "application/octet-stream" and raw.headers["x-total"] == str(n)
    values = struct.unpack(f"<{3 * n}d", raw.content)
    assert list(values[:n]) == cols["id"] and list(values[n : 2 * n]) == cols["accuracy"]
    assert list(values[2 * n :]) == cols["latency_ms"]
    assert http.get(f"/dashboard/api/jobs/{job_id}/xy", params={"format": "csv"}).status_code == 422
