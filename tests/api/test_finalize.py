"""``POST /jobs/{id}/finalize`` and ``GET /jobs/{id}/fidelity`` through the API on SQLite and Postgres.

The selection (by reward at the job's T or an override, or the Pareto front), the final job's spec, and each
bad input: a job with no completed trials, ``top_k`` 0 or larger than the trials, another owner's job, a final
job submitted directly, fidelity of a search job. The training itself runs in ``tests/e2e/test_finalize.py``.
"""

from __future__ import annotations

import random

import pytest

from api.testing import Api
from nas_service.arch.spec import Architecture
from nas_service.pareto import pareto_front
from nas_service.reward import mnasnet_reward
from nas_service.storage.testing import make_result

ARCH = Architecture.from_block_strings(
    [["ds_r1_k3_s1_c8"], ["ir_r1_k3_s2_e3_c16"]], stem={"out_channels": 8}, head={"num_features": 32},
    resolution=16, num_classes=10, in_channels=1,
)  # fmt: skip


def _trained(api: Api, job_id: int, acc: float, lat: float) -> int:
    storage = api.storage
    arch = ARCH.model_copy(update={"name": f"{acc}-{lat}", "dropout": round(acc / 2, 4)})
    trial = storage.create_trial(job_id, {"acc": acc, "lat": lat}, arch)
    claimed = storage.claim_trial(job_id, "worker")
    assert claimed is not None and claimed.id == trial.id
    storage.report_trial(trial.id, claimed.attempts, make_result(acc, lat), f"report-{trial.id}")
    return trial.id


def _seeded(api: Api, n: int = 12) -> tuple[int, dict[int, tuple[float, float]]]:
    job = api.job(reward={"target_ms": 3.0})
    rng = random.Random(5)
    points = {}
    for _ in range(n):
        acc, lat = round(rng.uniform(0.3, 0.95), 3), round(rng.uniform(0.5, 8.0), 2)
        points[_trained(api, job["id"], acc, lat)] = (acc, lat)
    return job["id"], points


def test_finalize_by_reward_and_by_front(api: Api) -> None:
    job_id, points = _seeded(api)
    r = api.client.post(f"/api/v1/jobs/{job_id}/finalize", json={"top_k": 3, "epochs": 7}, headers=api.alice)
    assert r.status_code == 201, r.text
    final = r.json()
    ranked = sorted(points, key=lambda i: (-mnasnet_reward(*points[i], 3.0, -0.07, -0.07), i))
    assert final["kind"] == "final" and final["state"] == "queued"
    assert final["spec"]["final"]["trial_ids"] == ranked[:3]
    assert final["spec"]["budget"]["max_trials"] == 3 and final["spec"]["proxy"]["epochs"] == 7
    assert final["spec"]["proxy"]["data_fraction"] == 1.0 and final["spec"]["proxy"]["max_train_samples"] is None

    at_t = api.client.post(
        f"/api/v1/jobs/{job_id}/finalize", json={"top_k": 2, "target_ms": 1.0}, headers=api.alice
    ).json()
    ranked_t = sorted(points, key=lambda i: (-mnasnet_reward(*points[i], 1.0, -0.07, -0.07), i))
    assert at_t["spec"]["final"]["trial_ids"] == ranked_t[:2] and at_t["spec"]["reward"]["target_ms"] == 1.0

    ids = list(points)
    front = {ids[i] for i in pareto_front([points[i] for i in ids])}
    by_front = api.client.post(
        f"/api/v1/jobs/{job_id}/finalize", json={"top_k": len(front), "by": "pareto"}, headers=api.alice
    ).json()
    assert set(by_front["spec"]["final"]["trial_ids"]) == front
    too_many = api.client.post(
        f"/api/v1/jobs/{job_id}/finalize", json={"top_k": len(front) + 1, "by": "pareto"}, headers=api.alice
    )
    assert too_many.status_code == 422 and "Pareto front" in too_many.json()["error"]["message"]


def test_finalize_under_a_candidate_proxy_retrains_with_the_proxy_recipe(api: Api) -> None:
    job_id, points = _seeded(api, 4)
    body = {"top_k": 4, "proxy": {"epochs": 2, "resolution": 8, "data_fraction": 0.5}, "name": "candidate"}
    r = api.client.post(f"/api/v1/jobs/{job_id}/finalize", json=body, headers=api.alice)
    assert r.status_code == 201, r.text
    spec = r.json()["spec"]
    assert r.json()["name"] == "candidate" and sorted(spec["final"]["trial_ids"]) == sorted(points)
    assert spec["final"]["recipe"] == "proxy" and spec["final"]["augment"] == "none"
    assert spec["final"]["epochs"] == 2 and spec["final"]["ema_decay"] is None
    source = api.storage.get_job(job_id).spec.proxy  # the source's proxy with only those fields changed
    expected = source.model_copy(update={"epochs": 2, "resolution": 8, "data_fraction": 0.5})
    assert spec["proxy"] == expected.model_dump(mode="json")


@pytest.mark.parametrize(
    ("body", "field"),
    [({"top_k": 0}, "top_k"), ({"top_k": 13}, "top_k"), ({"top_k": 1, "epochs": 0}, "epochs"),
     ({"top_k": 1, "by": "accuracy"}, "by"), ({"top_k": True}, "top_k"),
     ({"top_k": 1, "proxy": {"epochz": 1}}, "proxy.epochz"), ({"top_k": 1, "proxy": {"epochs": 0}}, "proxy.epochs")],
)  # fmt: skip
def test_finalize_bad_input_names_the_field(api: Api, body: dict[str, object], field: str) -> None:
    job_id, _ = _seeded(api)
    r = api.client.post(f"/api/v1/jobs/{job_id}/finalize", json=body, headers=api.alice)
    assert r.status_code == 422 and r.json()["error"]["field"] == field, r.json()


def test_finalize_refusals(api: Api) -> None:
    empty = api.job()
    r = api.client.post(f"/api/v1/jobs/{empty['id']}/finalize", json={"top_k": 1}, headers=api.alice)
    assert r.status_code == 422 and "no completed trials" in r.json()["error"]["message"]
    job_id, _ = _seeded(api, 4)
    theirs = api.client.post(f"/api/v1/jobs/{job_id}/finalize", json={"top_k": 1}, headers=api.bob)
    missing = api.client.post("/api/v1/jobs/999999/finalize", json={"top_k": 1}, headers=api.bob)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["error"]["message"].replace(str(job_id), "N") == missing.json()["error"]["message"].replace(
        "999999", "N"
    )
    final = api.client.post(f"/api/v1/jobs/{job_id}/finalize", json={"top_k": 1}, headers=api.alice).json()
    again = api.client.post(f"/api/v1/jobs/{final['id']}/finalize", json={"top_k": 1}, headers=api.alice)
    assert again.status_code == 422 and again.json()["error"]["field"] == "job_id"
    fid = api.client.get(f"/api/v1/jobs/{job_id}/fidelity", headers=api.alice)
    assert fid.status_code == 422 and fid.json()["error"]["field"] == "job_id"
    direct = api.client.post(
        "/api/v1/jobs", json={"name": "x", "kind": "final", "space": "tiny", "final": final["spec"]["final"]},
        headers=api.bob,
    )  # fmt: skip
    assert direct.status_code == 422 and "finalize" in direct.json()["error"]["message"]


def test_fidelity_before_and_after_training(api: Api) -> None:
    job_id, points = _seeded(api, 6)
    final = api.client.post(f"/api/v1/jobs/{job_id}/finalize", json={"top_k": 3}, headers=api.alice).json()
    empty = api.client.get(f"/api/v1/jobs/{final['id']}/fidelity", headers=api.alice).json()
    assert empty["n"] == 0 and empty["kendall_tau"] is None
    assert [n["state"] for n in empty["networks"]] == ["queued"] * 3
    assert api.client.get(f"/api/v1/jobs/{final['id']}/fidelity", headers=api.bob).status_code == 404
