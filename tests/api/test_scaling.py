"""The compound-scaling table through the API: rebuilt from the saved planner state, owner-scoped."""

from __future__ import annotations

from api.testing import Api
from nas_service.jobspec import JobSpec
from nas_service.orchestration import STATE_FORMAT
from nas_service.storage.testing import store_told
from nas_service.strategies import make_strategy
from nas_service.strategies.base import Outcome

SCALING = {
    "base": [["ds_r1_k3_s1_c16"], ["ir_r1_k3_s2_e3_c24"], ["ir_r1_k5_s2_e3_c32_se0.25"]],
    "max_phi": 2,
    "tolerance": 0.1,
    "grid_step": 0.2,
}


def _run_planner(api: Api, job_id: int, spec: JobSpec) -> None:
    """Drive the real planner through step 1 (accuracy rising with width) and store its trials and state as the
    dispatcher does."""
    strategy = make_strategy(spec.strategy, None, spec.reward, scaling=spec.scaling)
    for _ in range(20):
        asked = strategy.ask(4)
        if not asked:
            break
        for s in asked:
            width = s.architecture.width_multiplier
            strategy.tell(s.suggestion_id, Outcome(state="completed", accuracy=min(0.99, 0.5 * width), latency_ms=1.0))
        if strategy.scaling_table() and all(r["phi"] <= 1 or r["state"] != "planned" for r in strategy.scaling_table()):
            break
    told = [(t.suggestion_id, t.params, t.outcome.accuracy, t.outcome.latency_ms) for t in strategy.told()]
    store_told(api.storage, job_id, told)
    api.storage.save_strategy_state(job_id, {"format": STATE_FORMAT, "strategy": strategy.state_dict()})


def test_scaling_table_from_saved_state(api: Api) -> None:
    job = api.job(kind="scaling", strategy={"name": "compound-scaling"}, scaling=SCALING, reward={"target_ms": 2.0})
    empty = api.client.get(f"/api/v1/jobs/{job['id']}/scaling", headers=api.alice).json()
    assert empty["family"] == [] and empty["chosen"] is None and "no strategy state" in empty["note"]

    spec = JobSpec.model_validate(job["spec"])
    _run_planner(api, job["id"], spec)
    body = api.client.get(f"/api/v1/jobs/{job['id']}/scaling", headers=api.alice).json()
    chosen = body["chosen"]
    assert chosen is not None
    assert abs(chosen["alpha"] * chosen["beta"] ** 2 * chosen["gamma"] ** 2 - 2.0) <= 0.1 + 1e-9
    assert len(body["grid"]) >= 2
    phis = [r["phi"] for r in body["family"]]
    assert phis[-1] == 2 and phis == sorted(phis)
    macs = [r["macs"] for r in body["family"] if r["macs"] is not None]
    assert macs == sorted(macs)  # scaling up never makes the network cheaper

    assert api.client.get(f"/api/v1/jobs/{job['id']}/scaling", headers=api.bob).status_code == 404


def test_scaling_on_a_search_job_is_empty_with_a_note(api: Api) -> None:
    job = api.job()
    body = api.client.get(f"/api/v1/jobs/{job['id']}/scaling", headers=api.alice).json()
    assert body["family"] == [] and body["note"] == "not a compound-scaling job"
