"""A netadapt job through the API: created without a space, its base checked, its table rebuilt from the trials."""

from __future__ import annotations

import math

from api.testing import Api
from nas_service.arch.profile import count_macs
from nas_service.jobspec import JobSpec
from nas_service.orchestration import STATE_FORMAT
from nas_service.orchestration.opening import resolve_netadapt
from nas_service.storage.testing import run_trial, store_told
from nas_service.strategies import make_strategy
from nas_service.strategies.base import Outcome

NETADAPT = {
    "base": [["ds_r1_k3_s1_c16"], ["ir_r2_k5_s2_e6_c32"], ["ir_r2_k3_s2_e6_c40"]],
    "budget_fraction": 0.8,
}


def _ms(arch: object) -> float:
    blocks = sum(b.repeats for stage in arch.stages for b in stage)  # type: ignore[attr-defined]
    return 0.05 * blocks + count_macs(arch) / 2e6  # type: ignore[arg-type]


def _run(api: Api, job_id: int, spec: JobSpec, steps: int) -> None:
    """Drive the real strategy ``steps`` asks deep and store its trials and state as the dispatcher does."""
    config = spec.strategy.model_copy(update={"name": "netadapt"})
    strategy = make_strategy(config, None, spec.reward, netadapt=resolve_netadapt(api.storage, spec))
    for _ in range(steps):
        asked = strategy.ask(4)
        if not asked:
            break
        for s in asked:
            acc = min(0.99, 0.05 * math.log(count_macs(s.architecture)))
            strategy.tell(s.suggestion_id, Outcome(state="completed", accuracy=acc, latency_ms=_ms(s.architecture)))
    told = [(t.suggestion_id, t.params, t.outcome.accuracy, t.outcome.latency_ms) for t in strategy.told()]
    store_told(api.storage, job_id, told)
    api.storage.save_strategy_state(job_id, {"format": STATE_FORMAT, "strategy": strategy.state_dict()})


def test_a_netadapt_job_needs_no_space_and_serves_its_table(api: Api) -> None:
    r = api.client.post("/api/v1/jobs", headers=api.alice, json={"kind": "netadapt", "netadapt": NETADAPT})
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["kind"] == "netadapt" and job["space_id"] is None
    assert any("NetAdapt shrinks it" in n for n in job["notes"])
    url = f"/api/v1/jobs/{job['id']}/netadapt"
    fresh = api.client.get(url, headers=api.alice).json()
    assert fresh["status"] == "running" and fresh["base"] is None and fresh["steps"] == []
    assert [p["state"] for p in fresh["proposals"]] == ["planned"] and fresh["budget_fraction"] == 0.8

    _run(api, job["id"], JobSpec.model_validate(job["spec"]), 50)
    body = api.client.get(url, headers=api.alice).json()
    assert body["status"] == "met", body["note"]
    assert body["budget_ms"] == round(0.8 * body["base"]["latency_ms"], 6)
    assert body["current"]["latency_ms"] <= body["budget_ms"]
    assert body["base"]["trial_id"] is not None
    for step in body["steps"]:
        chosen = step["chosen"]
        assert chosen["trial_id"] is not None and chosen["kind"] in ("expansion", "width", "kernel", "repeats")
        assert chosen["latency_ms"] < step["from_latency_ms"]
    assert api.client.get(url, headers=api.bob).status_code == 404


def test_a_netadapt_table_of_a_search_job_is_empty_with_a_note(api: Api) -> None:
    job = api.job()
    body = api.client.get(f"/api/v1/jobs/{job['id']}/netadapt", headers=api.alice).json()
    assert body["status"] is None and body["steps"] == [] and "not a netadapt job" in body["note"]


def test_a_bad_base_is_a_422_naming_it(api: Api) -> None:
    r = api.client.post(
        "/api/v1/jobs", headers=api.alice, json={"kind": "netadapt", "netadapt": {"base": "nope", "budget_ms": 1}}
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "netadapt.base", r.text
    r = api.client.post("/api/v1/jobs", headers=api.alice, json={"kind": "netadapt"})
    assert r.status_code == 422 and "netadapt" in r.text


def test_a_base_trial_must_be_visible_to_the_caller(api: Api) -> None:
    other = api.job(headers=api.bob)
    trial_id = run_trial(api.storage, other["id"], 0.9, 1.0)
    r = api.client.post(
        "/api/v1/jobs", headers=api.alice,
        json={"kind": "netadapt", "netadapt": {"base": str(trial_id), "budget_ms": 1}},
    )  # fmt: skip
    assert r.status_code == 404 and r.json()["error"]["field"] == "netadapt.base", r.text
