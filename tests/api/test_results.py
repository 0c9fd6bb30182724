"""Pareto front and best trials through the API: flags vs brute force, re-scoring overrides, hypervolume."""

from __future__ import annotations

import random

import pytest

from api.testing import Api
from nas_service.pareto import hypervolume_2d, pareto_front
from nas_service.reward import mnasnet_reward
from nas_service.storage.testing import run_trial


def _seed(api: Api, n: int = 30) -> tuple[int, dict[int, tuple[float, float]]]:
    job = api.job(reward={"target_ms": 3.0})
    rng = random.Random(3)
    points = {}
    for _ in range(n):
        acc, lat = round(rng.uniform(0.2, 0.95), 3), round(rng.uniform(0.5, 8.0), 2)
        points[run_trial(api.storage, job["id"], acc, lat)] = (acc, lat)
    return job["id"], points


def test_pareto_overrides_and_hypervolume(api: Api) -> None:
    job_id, points = _seed(api)
    ids = list(points)
    expected = {ids[i] for i in pareto_front([points[i] for i in ids])}
    body = api.client.get(f"/api/v1/jobs/{job_id}/pareto", headers=api.alice).json()
    assert {p["trial_id"] for p in body["points"]} == expected
    assert (body["target_ms"], body["alpha"], body["beta"]) == (3.0, -0.07, -0.07)
    lats = [points[i][1] for i in expected]
    ref = max(6.0, 1.1 * max(lats))
    assert body["reference"] == {"accuracy": 0.0, "latency_ms": pytest.approx(ref)}
    assert body["hypervolume"] == pytest.approx(hypervolume_2d([points[i] for i in expected], (0.0, ref)))

    over = api.client.get(f"/api/v1/jobs/{job_id}/pareto?target_ms=1.5&alpha=-0.3&beta=-0.9", headers=api.alice)
    for p in over.json()["points"]:
        acc, lat = points[p["trial_id"]]
        assert p["reward"] == pytest.approx(mnasnet_reward(acc, lat, 1.5, -0.3, -0.9))
    assert {p["trial_id"] for p in over.json()["points"]} == expected  # the front does not depend on T


def test_best_with_and_without_overrides(api: Api) -> None:
    job_id, points = _seed(api)
    stored = api.client.get(f"/api/v1/jobs/{job_id}/best?k=3", headers=api.alice).json()
    ranked = sorted(points, key=lambda i: -mnasnet_reward(*points[i], 3.0, -0.07, -0.07))
    assert [t["trial_id"] for t in stored["trials"]] == ranked[:3]
    hard = api.client.get(f"/api/v1/jobs/{job_id}/best?k=4&target_ms=2&alpha=0&beta=-1", headers=api.alice).json()
    ranked = sorted(points, key=lambda i: -mnasnet_reward(*points[i], 2.0, 0.0, -1.0))
    assert [t["trial_id"] for t in hard["trials"]] == ranked[:4]
    assert hard["trials"][0]["reward"] == pytest.approx(mnasnet_reward(*points[ranked[0]], 2.0, 0.0, -1.0))
    r = api.client.get(f"/api/v1/jobs/{job_id}/best?k=0", headers=api.alice)
    assert r.status_code == 422 and r.json()["error"]["field"] == "query.k"
