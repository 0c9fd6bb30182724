"""``/jobs`` and trials: creation, validation, transitions (409), isolation (404), reports as the API shows them."""

from __future__ import annotations

from pathlib import Path

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


# ---------------------------------------------------------------------------- fit checks at submit time
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("job_file", sorted(EXAMPLES.glob("job-*.yaml")), ids=lambda p: p.name)
def test_every_example_job_fits_its_proxy_task(api: Api, job_file: Path) -> None:
    from nas_service.cli.client_cmd import load_job_file

    r = api.client.post("/api/v1/jobs", json=load_job_file(job_file), headers=api.alice)
    assert r.status_code == 201, r.text
    assert not any(note.startswith("forced") for note in r.json()["notes"])


@pytest.mark.parametrize(
    ("space_file", "dataset"), [("digits.yaml", "digits"), ("synthetic.yaml", "synthetic"), ("cifar10.yaml", "cifar10")]
)
def test_every_bundled_dataset_has_an_example_space_that_fits(api: Api, space_file: str, dataset: str) -> None:
    import yaml

    space = yaml.safe_load((EXAMPLES / "spaces" / space_file).read_text())
    r = api.client.post("/api/v1/jobs", json={"space": space, "proxy": {"dataset": dataset}}, headers=api.alice)
    assert r.status_code == 201, r.text


def test_a_224px_space_on_16px_digits_is_refused_naming_the_field(api: Api) -> None:
    for preset in ("mixnet", "mnasnet"):
        body = {"space": preset, "proxy": {"dataset": "digits", "resolution": 16}}
        r = api.client.post("/api/v1/jobs", json=body, headers=api.alice)
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert error["field"] == "proxy.resolution" and "224 px" in error["message"] and "force" in error["message"]
    r = api.client.post("/api/v1/jobs", json={"space": "mixnet"}, headers=api.alice)  # default 32 px: still too small
    assert r.status_code == 422 and r.json()["error"]["field"] == "proxy.resolution"


def test_an_ignored_proxy_resolution_is_refused_and_force_overrides(api: Api) -> None:
    body = {"space": "digits", "proxy": {"dataset": "digits", "resolution": 16}}
    r = api.client.post("/api/v1/jobs", json=body, headers=api.alice)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "proxy.resolution" and "16/24/32 px" in r.json()["error"]["message"]
    r = api.client.post("/api/v1/jobs", json={**body, "force": True}, headers=api.alice)
    assert r.status_code == 201, r.text
    notes = r.json()["notes"]
    assert any(n.startswith("forced: proxy.resolution 16 is ignored") for n in notes), notes
    assert "force" not in r.json()["spec"]
    # A job read back later carries no notes (they belong to the submission).
    assert api.client.get(f"/api/v1/jobs/{r.json()['id']}", headers=api.alice).json()["notes"] == []


def test_adapted_heads_are_said(api: Api) -> None:
    r = api.client.post("/api/v1/jobs", json={"space": "mixnet", "force": True}, headers=api.alice)
    assert r.status_code == 201, r.text
    notes = r.json()["notes"]
    assert any("1000-class head" in n and "digits's 10 classes" in n for n in notes), notes
    assert any("3-channel input" in n for n in notes), notes
    r = api.client.post("/api/v1/jobs", json={"space": "digits"}, headers=api.alice)
    assert r.status_code == 201 and any("16/24/32 px" in n for n in r.json()["notes"])


def test_scaling_preset_base_at_tiny_resolution_is_refused(api: Api) -> None:
    body = {"kind": "scaling", "scaling": {"base": "efficientnet_b0"}, "proxy": {"resolution": 16}}
    r = api.client.post("/api/v1/jobs", json=body, headers=api.alice)
    assert r.status_code == 422 and r.json()["error"]["field"] == "proxy.resolution", r.text
    body["scaling"] = {"base": [["ds_r1_k3_s1_c16"], ["ir_r1_k3_s2_e3_c24"]]}
    assert api.client.post("/api/v1/jobs", json=body, headers=api.alice).status_code == 201


def test_a_cancelled_trial_is_never_ranked_or_drawn(api: Api) -> None:
    job = api.job()
    done = api.storage.create_trial(job["id"], {"i": 0})
    api.storage.claim_trial(job["id"], "w")
    _report(api, done.id, "done", acc=0.7, lat=2.0)
    cut = api.storage.create_trial(job["id"], {"i": 1})
    api.storage.claim_trial(job["id"], "w")
    api.client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=api.alice)
    late = _report(api, cut.id, "late", acc=0.99, lat=0.5)  # would dominate and out-score the completed one
    assert late["state"] == "cancelled" and late["accuracy"] == 0.99 and late["reward"] is None
    assert api.client.post(f"/api/v1/jobs/{job['id']}/resume", headers=api.alice).status_code == 200
    base = f"/api/v1/jobs/{job['id']}"
    by_reward = api.client.get(f"{base}/trials?sort=reward&order=desc", headers=api.alice).json()["items"]
    assert [t["id"] for t in by_reward] == [done.id, cut.id]
    for query in ("", "?target_ms=1.0&alpha=-0.5&beta=-0.5"):
        best = api.client.get(f"{base}/best{query}", headers=api.alice).json()["trials"]
        assert [t["trial_id"] for t in best] == [done.id], query
        front = api.client.get(f"{base}/pareto{query}", headers=api.alice).json()["points"]
        assert [p["trial_id"] for p in front] == [done.id], query
    assert api.client.get(base, headers=api.alice).json()["best_trial_id"] == done.id


def test_a_preset_space_is_stored_once_per_owner_and_version(api: Api) -> None:
    first = api.client.post("/api/v1/jobs", json={"name": "a", "space": "digits"}, headers=api.alice).json()
    second = api.client.post("/api/v1/jobs", json={"name": "b", "space": "digits"}, headers=api.alice).json()
    assert first["space_id"] == second["space_id"]
    stored = api.client.get(f"/api/v1/spaces/{first['space_id']}", headers=api.alice).json()
    assert stored["name"] == "digits" and stored["version"] == 1
    other = api.client.post("/api/v1/jobs", json={"name": "c", "space": "tiny"}, headers=api.alice).json()
    bobs = api.client.post("/api/v1/jobs", json={"name": "d", "space": "digits"}, headers=api.bob).json()
    assert len({first["space_id"], other["space_id"], bobs["space_id"]}) == 3
    inline = api.client.post("/api/v1/jobs", json={"name": "e", "space": stored["space"]}, headers=api.alice).json()
    assert inline["space_id"] != first["space_id"]  # an inline document is the caller's own space, stored as sent
