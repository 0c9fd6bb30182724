"""REST CRUD of latency targets: the built-in default, validation naming the field, ownership, predictor reset."""

from __future__ import annotations

from typing import Any

import pytest

from nas_service.latency import LatencyPredictor

URL = "/api/v1/latency/targets"


def _error(r: Any) -> dict[str, Any]:
    return dict(r.json()["error"])


def test_builtin_target_always_exists_and_is_protected(lat_api: Any) -> None:
    c, h = lat_api.client, lat_api.alice
    listed = c.get(URL, headers=h).json()
    assert [t["name"] for t in listed] == ["local-cpu"]
    local = listed[0]
    assert local["builtin"] and local["runtime"] == "torch" and local["threads"] == 1 and local["batch_size"] == 1
    assert c.get(f"{URL}/local-cpu", headers=h).json()["name"] == "local-cpu"
    assert c.post(URL, json={"name": "local-cpu"}, headers=h).status_code == 409
    assert c.delete(f"{URL}/local-cpu", headers=h).status_code == 409
    assert c.patch(f"{URL}/local-cpu", json={"threads": 2}, headers=h).status_code == 409


def test_crud_round_trip(lat_api: Any) -> None:
    c, h = lat_api.client, lat_api.alice
    body = {"name": "edge-a76", "runtime": "onnxruntime", "threads": 4, "resource": "latency:edge-a76"}
    r = c.post(URL, json=body, headers=h)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["owner"] == "alice" and not created["builtin"] and created["repeats"] == 30
    assert c.post(URL, json=body, headers=h).status_code == 409
    assert [t["name"] for t in c.get(URL, headers=lat_api.bob).json()] == ["local-cpu", "edge-a76"]
    assert c.patch(f"{URL}/edge-a76", json={"threads": 2}, headers=lat_api.bob).status_code == 403
    r = c.patch(f"{URL}/edge-a76", json={"threads": 2, "warmup": 5}, headers=h)
    assert r.status_code == 200 and r.json()["threads"] == 2 and r.json()["warmup"] == 5
    assert c.delete(f"{URL}/edge-a76", headers=h).status_code == 204
    assert c.get(f"{URL}/edge-a76", headers=h).status_code == 404
    assert c.get(URL).status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "runtime": "tflite"}, "runtime"),
        ({"name": "x", "threads": -1}, "threads"),
        ({"name": "x", "batch_size": 0}, "batch_size"),
        ({"name": "x", "repeats": 0}, "repeats"),
        ({"name": "Bad Name"}, "name"),
        ({"name": "x", "runtime": "onnxruntime", "device": "cuda"}, "device"),
        ({"name": "x", "dtype": "float16"}, "dtype"),
        ({"name": "x", "resource": "no spaces"}, "resource"),
        ({"name": "x", "colour": "red"}, "colour"),
    ],
)
def test_bad_target_is_422_naming_the_field(lat_api: Any, body: dict[str, Any], field: str) -> None:
    r = lat_api.client.post(URL, json=body, headers=lat_api.alice)
    assert r.status_code == 422, r.text
    assert _error(r)["field"] == field


def test_bad_patch_names_the_field(lat_api: Any) -> None:
    c, h = lat_api.client, lat_api.alice
    assert c.post(URL, json={"name": "edge"}, headers=h).status_code == 201
    r = c.patch(f"{URL}/edge", json={"threads": 0}, headers=h)
    assert r.status_code == 422 and _error(r)["field"] == "threads"
    r = c.patch(f"{URL}/edge", json={"runtime": "onnxruntime", "device": "cuda"}, headers=h)
    assert r.status_code == 422 and _error(r)["field"] == "device"


def test_changing_what_is_measured_resets_the_predictor(lat_api: Any) -> None:
    c, h, storage = lat_api.client, lat_api.alice, lat_api.storage
    assert c.post(URL, json={"name": "edge"}, headers=h).status_code == 201
    p = LatencyPredictor(
        "edge", {"runtime": "torch", "device": "cpu", "threads": 1, "batch_size": 1, "dtype": "float32"}
    )
    p.table["k"] = 1.0
    storage.save_latency_predictor("edge", p.to_dict())
    assert c.get(f"{URL}/edge/predictor", headers=h).json()["table_entries"] == 1
    assert c.patch(f"{URL}/edge", json={"warmup": 3}, headers=h).status_code == 200  # precision only: kept
    assert c.get(f"{URL}/edge/predictor", headers=h).json()["table_entries"] == 1
    assert c.patch(f"{URL}/edge", json={"runtime": "onnxruntime"}, headers=h).status_code == 200
    assert c.get(f"{URL}/edge/predictor", headers=h).json()["table_entries"] == 0


def _job(lat_api: Any, latency: dict[str, Any]) -> Any:
    body = {"name": "j", "space": "digits", "latency": latency}
    return lat_api.client.post("/api/v1/jobs", json=body, headers=lat_api.alice)


def test_job_names_its_targets(lat_api: Any) -> None:
    c, h = lat_api.client, lat_api.alice
    assert (
        c.post(URL, json={"name": "edge", "runtime": "onnxruntime", "resource": "latency:edge"}, headers=h).status_code
        == 201
    )
    r = _job(lat_api, {"target": "nope"})
    assert r.status_code == 422 and _error(r)["field"] == "latency.target" and "edge" in _error(r)["message"]
    r = _job(lat_api, {"target": "edge", "extra_targets": ["local-cpu", "gone"]})
    assert r.status_code == 422 and _error(r)["field"] == "latency.extra_targets.1"
    r = _job(lat_api, {"mode": "predict"})
    assert r.status_code == 422 and _error(r)["field"] == "latency.mode"
    r = _job(lat_api, {"mode": "guess"})
    assert r.status_code == 422 and _error(r)["field"] == "latency.mode"
    r = _job(lat_api, {"target": "edge", "extra_targets": ["local-cpu"]})
    assert r.status_code == 201, r.text
    stored = lat_api.storage.get_job(r.json()["id"]).spec.latency
    assert stored.target == "edge" and set(stored.resolved) == {"edge"}  # local-cpu: the job's own fields
    assert stored.resolved["edge"].runtime == "onnxruntime" and stored.resolved["edge"].resource == "latency:edge"
    assert _job(lat_api, {}).status_code == 201  # zero-config: local-cpu


def test_predict_mode_needs_a_profiled_target(lat_api: Any) -> None:
    from nas_service.latency import DEFAULT_TARGET, target_settings

    r = _job(lat_api, {"mode": "predict"})
    assert r.status_code == 422 and _error(r)["field"] == "latency.mode"
    assert "nas latency profile local-cpu" in _error(r)["message"]
    p = LatencyPredictor("local-cpu", target_settings(DEFAULT_TARGET))
    p.table["k"] = 1.0
    lat_api.storage.save_latency_predictor("local-cpu", p.to_dict())
    r = _job(lat_api, {"mode": "predict"})
    assert r.status_code == 201, r.text
    assert lat_api.storage.get_job(r.json()["id"]).spec.latency.mode == "predict"
    r = _job(lat_api, {"mode": "predict", "threads": 2})  # the predictor knows 1 thread only
    assert r.status_code == 422 and _error(r)["field"] == "latency.mode" and "threads=2" in _error(r)["message"]
    body = {"name": "j", "space": "digits", "kind": "netadapt", "latency": {"mode": "predict"},
            "netadapt": {"base": "mnasnet_small", "budget_fraction": 0.5}}  # fmt: skip
    r = lat_api.client.post("/api/v1/jobs", json=body, headers=lat_api.alice)
    assert r.status_code == 422 and _error(r)["field"] == "latency.mode", r.text
