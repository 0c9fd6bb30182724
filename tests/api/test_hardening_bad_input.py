"""Issue 10, items 6 and 9: bad input is a 4xx naming the field, never a 500, on SQLite and Postgres alike.

Deep nesting, huge integers, non-finite numbers (worker reports included, and never stored), booleans given as
numbers, malformed JSON (one 400 shape on every route) and unsafe job names.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from api.testing import Api
from nas_service.storage.testing import make_result

JOBS = "/api/v1/jobs"


def _error(r: Any, status: int = 422) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return dict(r.json()["error"])


def _nested(levels: int) -> dict[str, Any]:
    root: dict[str, Any] = {}
    node = root
    for _ in range(levels):
        node["a"] = {}
        node = node["a"]
    return root


def _raw(api: Api, path: str, body: bytes, headers: dict[str, str], kind: str = "application/json") -> Any:
    return api.client.post(path, content=body, headers={**headers, "Content-Type": kind})


@pytest.mark.parametrize("levels", [300, 900])
def test_deeply_nested_settings_are_422(api: Api, levels: int) -> None:
    r = api.client.post(JOBS, json={"space": "digits", "strategy": {"settings": _nested(levels)}}, headers=api.alice)
    assert r.status_code in (400, 422), r.text
    assert r.json()["error"]["field"].startswith(("strategy.settings", "body")), r.text


def test_huge_integers_are_4xx(api: Api) -> None:
    yaml_body = b"name: x\nspace:\n  name: x\n  n: " + b"9" * 5000
    yaml_reply = _raw(api, "/api/v1/spaces", yaml_body, api.alice, "application/yaml")
    assert _error(yaml_reply, 400)["field"] == "body"
    json_reply = _raw(api, JOBS, b'{"space": "digits", "seed": ' + b"9" * 5000 + b"}", api.alice)
    assert json_reply.status_code in (400, 422), json_reply.text
    settings = {"space": "digits", "strategy": {"settings": {"n": 10**30}}}
    assert _error(api.client.post(JOBS, json=settings, headers=api.alice))["field"] == "strategy.settings.n"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"space": "digits", "strategy": {"settings": {"x": NaN}}}', "strategy.settings.x"),
        (b'{"space": "digits", "reward": {"target_ms": Infinity}}', "reward.target_ms"),
        (b'{"space": "digits", "resources": {"cpu": -Infinity}}', "resources.cpu"),
    ],
)
def test_non_finite_numbers_in_jobs_are_422(api: Api, body: bytes, field: str) -> None:
    assert _error(_raw(api, JOBS, body, api.alice))["field"] == field


def test_non_finite_numbers_in_spaces_are_4xx(api: Api) -> None:
    body = b'{"name": "s", "space": {"name": "s", "stages": [{"out_channels": 16, "expansions": [NaN]}]}}'
    assert _raw(api, "/api/v1/spaces", body, api.alice).status_code in (400, 422)
    yaml = b"name: s\nstages:\n- out_channels: 16\n  expansions: [.nan]\n"
    assert _raw(api, "/api/v1/spaces?name=s", yaml, api.alice, "application/yaml").status_code in (400, 422)


@pytest.mark.parametrize("where", ["median_ms", "samples_ms"])
def test_worker_reports_with_non_finite_latency_are_refused(where: str) -> None:
    """Workers report through the Ray side channel; the executor validates what arrives with these models."""
    from pydantic import ValidationError

    from nas_service.jobspec import TrialResult

    result = make_result(0.8, 3.0).model_dump(mode="json")
    if where == "median_ms":
        result["latency"]["median_ms"] = "__INF__"
    else:
        result["latency"]["samples_ms"] = ["__NAN__", "__INF__"]
    text = json.dumps(result).replace('"__INF__"', "Infinity").replace('"__NAN__"', "NaN")
    with pytest.raises(ValidationError) as info:
        TrialResult.model_validate_json(text)
    assert info.value.errors()[0]["loc"][:2] == ("latency", where)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (JOBS, {"space": "digits", "proxy": {"epochs": True}}, "proxy.epochs"),
        (JOBS, {"space": "digits", "budget": {"max_trials": False}}, "budget.max_trials"),
        (JOBS, {"space": "digits", "reward": {"target_ms": True}}, "reward.target_ms"),
        (JOBS, {"space": "digits", "resources": {"cpu": True}}, "resources"),
        (JOBS, {"space_id": True}, "space_id"),
    ],
)
def test_booleans_are_not_numbers(api: Api, path: str, body: dict[str, Any], field: str) -> None:
    assert _error(api.client.post(path, json=body, headers=api.alice))["field"] == field


def test_booleans_are_not_numbers_on_the_worker_path() -> None:
    from pydantic import ValidationError

    from nas_service.jobspec import EpochReport, TrialResult

    with pytest.raises(ValidationError, match="epoch"):
        EpochReport.model_validate({"epoch": True, "val_accuracy": 0.5})
    with pytest.raises(ValidationError, match="epochs_run"):
        TrialResult.model_validate({"state": "completed", "epochs_run": True})


def test_malformed_json_is_the_same_400_on_every_route(api: Api) -> None:
    job = api.job()
    routes = [
        (JOBS, api.alice),
        ("/api/v1/spaces", api.alice),
        ("/api/v1/spaces/validate", api.alice),
        (f"/api/v1/jobs/{job['id']}/finalize", api.alice),
    ]
    for path, headers in routes:
        error = _error(_raw(api, path, b'{"name": ', headers), 400)
        assert error["code"] == "bad_request" and error["field"] == "body", (path, error)
        assert error["message"].startswith("invalid JSON"), (path, error)


@pytest.mark.parametrize("name", ["../../../tmp/x", "a\x00b", "a/b", "-x", " x", "x\ny"])
def test_unsafe_job_names_are_422_on_both_backends(api: Api, name: str) -> None:
    assert _error(api.client.post(JOBS, json={"space": "digits", "name": name}, headers=api.alice))["field"] == "name"
    assert api.client.get(JOBS, headers=api.alice).json()["total"] == 0


def test_nul_anywhere_in_a_job_is_422(api: Api) -> None:
    body = {"space": "digits", "proxy": {"dataset": "npz", "data_path": "/x\x00y"}}
    error = _error(api.client.post(JOBS, json=body, headers=api.alice))
    assert error["field"] == "proxy" and "NUL" in error["message"]


def test_every_error_status_is_documented(api: Api) -> None:
    doc = api.client.get("/api/v1/openapi.json").json()
    for path, methods in doc["paths"].items():
        if not path.startswith("/api/v1/") or path.endswith(("/docs", "/openapi.json")):
            continue
        for method, operation in methods.items():
            documented = set(operation["responses"])
            assert {"400", "401", "404", "413", "422"} <= documented, (method, path, sorted(documented))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_report_models_refuse_non_finite_numbers(bad: float) -> None:
    """The models the Ray side channel and the executor validate reports with (not only the HTTP path)."""
    from pydantic import ValidationError

    from nas_service.jobspec import EpochReport, LatencyMeasurement, TrialResult

    with pytest.raises(ValidationError):
        EpochReport(epoch=1, val_accuracy=bad)
    with pytest.raises(ValidationError):
        LatencyMeasurement(device="cpu", median_ms=bad, p90_ms=1.0, mean_ms=1.0, samples=1)
    with pytest.raises(ValidationError):
        LatencyMeasurement(device="cpu", median_ms=1.0, p90_ms=1.0, mean_ms=1.0, samples=2, samples_ms=[1.0, bad])
    with pytest.raises(ValidationError):
        TrialResult(state="completed", train_seconds=bad)
