"""``/jobs`` and trials: creation, validation, transitions (409), isolation (404), reports as the API shows them."""

from __future__ import annotations

import pytest

from api.testing import Api
from nas_service.jobspec import EpochReport, JobState, TrialState
from nas_service.storage import ConflictError
from nas_service.storage.testing import make_result


def _report(api: Api, trial_id: int, key: str, attempt: int = 1, acc: float = 0.8, lat: float = 3.0) -> dict:
    """Store a final report as the dispatcher does; the trial as the API then shows it."""
    api.storage.report_trial(trial_id, attempt, make_result(acc, lat), key)
    r = api.client.get(f"/api/v1/trials/{trial_id}", headers=api.admin)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_create_job_variants_and_422(api: Api) -> None:
    job = api.job(budget={"max_trials": 7})
    assert job["state"] == "queued" and job["spec"]["budget"]["max_trials"] == 7 and job["owner"] == "alice"
    nested = api.client.post("/api/v1/jobs", json={"spec": {"name": "n"}, "space": "digits"}, headers=api.alice)
    assert nested.status_code == 201 and nested.json()["name"] == "n"
    r = api.client.post("/api/v1/jobs", json={"space": "digits", "budget": {"max_trials": 0}}, headers=api.alice)
    assert r.status_code == 422 and r.json()["error"]["field"] == "budget.max_trials"
    r = api.client.post("/api/v1/jobs", json={"space": "no-such-preset"}, headers=api.alice)
    assert r.status_code == 422 and r.json()["error"]["field"] == "space"
    r = api.client.post("/api/v1/jobs", json={"name": "x" * 500, "space": "digits"}, headers=api.alice)
    assert r.status_code == 422 and r.json()["error"]["field"] == "name"
    listed = api.client.get("/api/v1/jobs?state=queued&limit=1", headers=api.alice).json()
    assert listed["total"] == 2 and len(listed["items"]) == 1


def test_cancel_resume_and_illegal_transition(api: Api) -> None:
    job = api.job()
    url = f"/api/v1/jobs/{job['id']}"
    r = api.client.post(f"{url}/resume", headers=api.alice)
    assert r.status_code == 409 and "from queued to queued" in r.json()["error"]["message"]
    assert api.client.post(f"{url}/cancel", headers=api.alice).json()["state"] == "cancelled"
    r = api.client.post(f"{url}/cancel", headers=api.alice)
    assert r.status_code == 409 and r.json()["error"] == {
        "code": "conflict",
        "message": f"job {job['id']} cannot go from cancelled to cancelled",
    }
    assert api.client.post(f"{url}/resume", headers=api.alice).json()["state"] == "queued"


def test_owner_isolation_is_404(api: Api) -> None:
    job = api.job()
    trial = api.storage.create_trial(job["id"], {"a": 1})
    for path in (
        f"/api/v1/jobs/{job['id']}",
        f"/api/v1/jobs/{job['id']}/trials",
        f"/api/v1/jobs/{job['id']}/pareto",
        f"/api/v1/jobs/{job['id']}/best",
        f"/api/v1/jobs/{job['id']}/events",
        f"/api/v1/trials/{trial.id}",
    ):
        r = api.client.get(path, headers=api.bob)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", path
        assert api.client.get(path.replace("/events", ""), headers=api.admin).status_code == 200
    assert api.client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=api.bob).status_code == 404
    r = api.client.post("/api/v1/jobs", json={"space_id": job["space_id"]}, headers=api.bob)
    assert r.status_code == 404
    assert api.client.get("/api/v1/jobs", headers=api.bob).json()["total"] == 0
    assert api.client.get("/api/v1/jobs?owner=alice", headers=api.bob).json()["total"] == 0
    assert api.client.get("/api/v1/jobs?owner=alice", headers=api.admin).json()["total"] == 1


def test_reports_are_idempotent_and_late_ones_change_nothing(api: Api) -> None:
    job = api.job()
    trial = api.storage.create_trial(job["id"], {"a": 1})
    api.storage.claim_trial(job["id"], "w")
    assert api.storage.report_epoch(trial.id, EpochReport(epoch=0, val_accuracy=0.5)) is True
    assert api.storage.report_epoch(trial.id, EpochReport(epoch=0, val_accuracy=0.5)) is False
    assert api.storage.heartbeat(trial.id, 1) == TrialState.RUNNING
    first = _report(api, trial.id, "k1")
    second = _report(api, trial.id, "k1")  # a retried report: same result, counted once
    assert first == second and first["state"] == "completed"
    counters = api.client.get(f"/api/v1/jobs/{job['id']}", headers=api.alice).json()["counters"]
    assert counters == {"total": 1, "completed": 1, "pruned": 0, "failed": 0}
    with pytest.raises(ConflictError):
        api.storage.report_trial(trial.id, 1, make_result(0.9, 1.0), "k2")

    late = api.storage.create_trial(job["id"], {"a": 2})
    api.storage.claim_trial(job["id"], "w")
    api.client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=api.alice)
    assert api.storage.heartbeat(late.id) == TrialState.CANCELLED
    stored = _report(api, late.id, "late", acc=0.99, lat=0.5)
    assert stored["state"] == "cancelled" and stored["accuracy"] == 0.99 and not stored["on_front"]
    after = api.client.get(f"/api/v1/jobs/{job['id']}", headers=api.alice).json()
    assert after["counters"]["completed"] == 1 and after["state"] == "cancelled"
    assert api.storage.get_trial(late.id).state == TrialState.CANCELLED
    assert api.storage.get_job(job["id"]).state == JobState.CANCELLED


def test_trial_listing_and_detail(api: Api) -> None:
    job = api.job()
    for i, (acc, lat) in enumerate([(0.5, 1.0), (0.9, 4.0), (0.7, 2.0)]):
        t = api.storage.create_trial(job["id"], {"i": i})
        api.storage.claim_trial(job["id"], "w")
        api.storage.report_epoch(t.id, EpochReport(epoch=0, val_accuracy=acc / 2))
        _report(api, t.id, f"k{i}", acc=acc, lat=lat)
    base = f"/api/v1/jobs/{job['id']}/trials"
    by_acc = api.client.get(f"{base}?sort=accuracy", headers=api.alice).json()
    assert [t["accuracy"] for t in by_acc["items"]] == [0.9, 0.7, 0.5]
    by_lat = api.client.get(f"{base}?sort=latency&limit=2&offset=1", headers=api.alice).json()
    assert [t["latency_ms"] for t in by_lat["items"]] == [2.0, 4.0] and by_lat["total"] == 3
    assert api.client.get(f"{base}?state=failed", headers=api.alice).json()["total"] == 0
    r = api.client.get(f"{base}?sort=bogus", headers=api.alice)
    assert r.status_code == 422 and r.json()["error"]["field"] == "query.sort"
    detail = api.client.get(f"/api/v1/trials/{by_acc['items'][0]['id']}", headers=api.alice).json()
    assert detail["epochs"][0]["val_accuracy"] == 0.45 and detail["latency"]["samples_ms"] == [
        4.0,
        4.0,
        4.0,
    ]


def test_an_epoch_from_an_older_attempt_is_ignored(api: Api) -> None:
    job = api.job()
    t = api.storage.create_trial(job["id"], {"i": 0})
    api.storage.claim_trial(job["id"], "w")  # attempt 1
    assert api.storage.report_epoch(t.id, EpochReport(epoch=1, val_accuracy=0.3), attempt=1)
    api.storage.mark_stale_trials(older_than_s=0.0)
    api.storage.requeue_trial(t.id)
    api.storage.claim_trial(job["id"], "w")  # attempt 2
    assert api.storage.report_epoch(t.id, EpochReport(epoch=2, val_accuracy=0.4), attempt=1) is False
    assert api.storage.report_epoch(t.id, EpochReport(epoch=1, val_accuracy=0.6), attempt=2) is True
    detail = api.client.get(f"/api/v1/trials/{t.id}", headers=api.alice).json()
    assert [(e["epoch"], e["val_accuracy"]) for e in detail["epochs"]] == [(1, 0.6)]
