"""A netadapt job through the API: created without a space, its base checked, its table rebuilt from the trials."""

from __future__ import annotations

from api.testing import Api
from nas_service.storage.testing import run_trial
from nas_service.testing import seed_netadapt

NETADAPT = {
    "base": [["ds_r1_k3_s1_c16"], ["ir_r2_k5_s2_e6_c32"], ["ir_r2_k3_s2_e6_c40"]],
    "budget_fraction": 0.8,
}


def test_a_netadapt_job_needs_no_space_and_serves_its_table(api: Api) -> None:
    r = api.client.post("/api/v1/jobs", headers=api.alice, json={"kind": "netadapt", "netadapt": NETADAPT})
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["kind"] == "netadapt" and job["space_id"] is None and job["strategy"] == "netadapt"
    assert any("NetAdapt shrinks it" in n for n in job["notes"])
    url = f"/api/v1/jobs/{job['id']}/netadapt"
    fresh = api.client.get(url, headers=api.alice).json()
    assert fresh["status"] == "running" and fresh["base"] is None and fresh["steps"] == []
    assert [p["state"] for p in fresh["proposals"]] == ["planned"] and fresh["budget_fraction"] == 0.8

    seed_netadapt(api.storage, job["id"])
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


def test_finalize_by_netadapt_trains_the_kept_networks_last_first(api: Api) -> None:
    r = api.client.post("/api/v1/jobs", headers=api.alice, json={"kind": "netadapt", "netadapt": NETADAPT})
    job = r.json()
    seed_netadapt(api.storage, job["id"])
    table = api.client.get(f"/api/v1/jobs/{job['id']}/netadapt", headers=api.alice).json()
    kept = [s["chosen"]["trial_id"] for s in reversed(table["steps"])] + [table["base"]["trial_id"]]
    assert kept[0] == table["current"]["trial_id"]

    url = f"/api/v1/jobs/{job['id']}/finalize"
    made = api.client.post(url, headers=api.alice, json={"top_k": 2, "by": "netadapt", "epochs": 3})
    assert made.status_code == 201, made.text
    final = made.json()
    assert final["kind"] == "final" and final["spec"]["final"]["trial_ids"] == kept[:2]
    assert final["spec"]["netadapt"] is None  # a final job trains; it does not adapt
    again = api.client.get(f"/api/v1/jobs/{final['id']}", headers=api.alice)
    assert again.status_code == 200, again.text

    too_many = api.client.post(url, headers=api.alice, json={"top_k": len(kept) + 1, "by": "netadapt"})
    assert too_many.status_code == 422 and too_many.json()["error"]["field"] == "top_k", too_many.text
    search = api.job()
    run_trial(api.storage, search["id"], 0.9, 1.0)
    wrong = api.client.post(f"/api/v1/jobs/{search['id']}/finalize", headers=api.alice, json={"by": "netadapt"})
    assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "by", wrong.text
