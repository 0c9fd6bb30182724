"""The per-target predictor: held-out accuracy on the digits space, on-demand parts, refits, storage, API."""

from __future__ import annotations

import os
from typing import Any

import pytest

from nas_service.arch.presets import get_preset
from nas_service.latency import LatencyPredictor, LatencyTarget, MeasurementPolicy, network_parts, registry
from nas_service.latency.profiling import fill_table, measure_network, profile_space, sample_architectures
from nas_service.space import digits_space

TARGET = LatencyTarget(name="local-ort", runtime="onnxruntime", warmup=5, repeats=20)
POLICY = MeasurementPolicy(cv_threshold=0.05, max_rounds=3)


@pytest.fixture(scope="module")
def profiled() -> tuple[LatencyPredictor, Any]:
    """A predictor profiled on 24 digits networks (7 held out), on onnxruntime, measured for real."""
    predictor = LatencyPredictor(TARGET.name)
    report = profile_space(predictor, TARGET, sample_architectures(digits_space(), 24, seed=1), 0.3, POLICY)
    return predictor, report


def test_heldout_accuracy_on_digits(profiled: tuple[LatencyPredictor, Any]) -> None:
    """Ranks and errors on networks the correction never saw.

    What a test can hold on a shared box is the ranking and the scale: two clean-clone CI runs of this change
    scored Kendall tau 0.62 and 0.81 but 2/7 and 0/7 of the 7 networks within 10 % (MAPE 0.23 and 0.27), as other
    processes only ever add time to some measurements. The accuracy goal (95 % within 10 %) is
    ``benchmarks/latency_bench.py``'s, measured side by side, not a unit test's.
    """
    predictor, report = profiled
    assert report.n_train == 17 and report.n_test == 7 and report.table_entries == len(predictor.table) > 20
    assert predictor.accuracy["n_test"] == 7 and predictor.coef is not None
    assert report.kendall_tau > 0.4, report
    if os.getloadavg()[0] <= len(os.sched_getaffinity(0)):
        assert report.mape < 0.6, report  # the right scale: a unit or feature mix-up is off by far more


def test_parts_not_in_the_table_are_measured_on_demand(profiled: tuple[LatencyPredictor, Any]) -> None:
    predictor = LatencyPredictor.from_dict(profiled[0].to_dict())
    other = get_preset("mnasnet_a1").model_copy(update={"resolution": 32, "num_classes": 10})
    parts = network_parts(other)
    missing = predictor.missing(parts)
    assert missing  # a network from no profiled space
    before = predictor.predict_parts(parts)
    assert before.missing_parts > 0 and before.uncertainty_ms > before.predicted_ms * predictor.rel_std
    assert fill_table(predictor, other, TARGET, POLICY) == len(missing)
    after = predictor.predict_parts(parts)
    assert after.missing_parts == 0 and not predictor.missing(parts)
    assert after.uncertainty_ms == pytest.approx(after.predicted_ms * predictor.rel_std)


def test_refits_and_scores_online_as_networks_are_measured(profiled: tuple[LatencyPredictor, Any]) -> None:
    predictor = LatencyPredictor.from_dict(profiled[0].to_dict())
    n, coef, scored = len(predictor.samples), predictor.coef, predictor.online["n"]
    for arch in sample_architectures(digits_space(), 3, seed=99):
        fill_table(predictor, arch, TARGET, POLICY)
        m = measure_network(arch, TARGET, POLICY)
        predictor.observe(network_parts(arch), arch.arch_hash(), m.median_ms)
    assert len(predictor.samples) == n + 3 and predictor.coef != coef
    assert predictor.online["n"] == scored + 3 and predictor.online["mape"] >= 0  # scored before each refit


def test_document_round_trip_and_storage(profiled: tuple[LatencyPredictor, Any], storage: Any) -> None:
    predictor = profiled[0]
    again = LatencyPredictor.from_dict(predictor.to_dict())
    arch = sample_architectures(digits_space(), 1, seed=5)[0]
    assert again.predict_parts(network_parts(arch)) == predictor.predict_parts(network_parts(arch))
    storage.create_latency_target("alice", TARGET)
    predictor.settings = {}
    assert registry.save_predictor(storage, predictor) == 1
    loaded = registry.load_predictor(storage, TARGET)
    assert loaded.table == predictor.table and loaded.coef == predictor.coef


def test_api_predict(profiled: tuple[LatencyPredictor, Any], lat_api: Any) -> None:
    c, h = lat_api.client, lat_api.alice
    assert c.post("/api/v1/latency/targets", json=TARGET.model_dump(), headers=h).status_code == 201
    url = f"/api/v1/latency/targets/{TARGET.name}/predict"
    arch = sample_architectures(digits_space(), 1, seed=5)[0]
    r = c.post(url, json={"architecture": arch.model_dump(mode="json")}, headers=h)
    assert r.status_code == 409 and "nas latency profile" in r.json()["error"]["message"]
    lat_api.storage.save_latency_predictor(TARGET.name, profiled[0].to_dict())
    r = c.post(url, json={"architecture": arch.model_dump(mode="json")}, headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    expected = profiled[0].predict_parts(network_parts(arch))
    assert body["predicted_ms"] == pytest.approx(expected.predicted_ms) and body["uncertainty_ms"] > 0
    r = c.post(url, json={"architecture": "efficientnet_b7", "resolution": 1024}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["field"] == "architecture"
    r = c.post(url, json={"architecture": "no_such_preset"}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["field"] == "architecture"
    r = c.post(url, json={"architecture": "mnasnet_a1", "resolution": 4}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["field"] == "resolution"
    assert (
        c.post("/api/v1/latency/targets/nope/predict", json={"architecture": "mnasnet_a1"}, headers=h).status_code
        == 404
    )
    summary = c.get(f"/api/v1/latency/targets/{TARGET.name}/predictor", headers=h).json()
    assert summary["fitted"] and summary["accuracy"]["n_test"] == 7


def test_trials_teach_the_job_target_predictor(profiled: tuple[LatencyPredictor, Any], storage: Any) -> None:
    from nas_service.jobspec import JobSpec, LatencyMeasurement
    from nas_service.latency.gate import learn_from_trial

    storage.save_latency_predictor(TARGET.name, profiled[0].to_dict())
    spec = JobSpec.model_validate({"latency": {"target": TARGET.name, "resolved": {TARGET.name: TARGET.model_dump()}}})
    arch = sample_architectures(digits_space(), 24, seed=1)[0]  # profiled: every part is in the table
    shape = [arch.in_channels, arch.resolution, arch.resolution]

    def lat(stable: bool) -> LatencyMeasurement:
        return LatencyMeasurement(
            device="cpu:x", median_ms=0.5, p90_ms=0.6, mean_ms=0.5, samples=3, stable=stable, target=TARGET.name
        )

    before = len(LatencyPredictor.from_dict(storage.get_latency_predictor(TARGET.name)).samples)
    assert not learn_from_trial(storage, spec, arch.model_dump(mode="json"), shape, 10, lat(False))
    assert learn_from_trial(storage, spec, arch.model_dump(mode="json"), shape, 10, lat(True))
    after = LatencyPredictor.from_dict(storage.get_latency_predictor(TARGET.name))
    # the profiled network was a sample already: re-measured, it replaces its earlier sample
    assert len(after.samples) == before and after.samples[-1].measured_ms == 0.5
    assert after.online["n"] == profiled[0].online["n"] + 1
    other = JobSpec()  # local-cpu: no predictor stored for it
    assert not learn_from_trial(storage, other, arch.model_dump(mode="json"), shape, 10, lat(True))
