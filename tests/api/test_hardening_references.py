"""Issue 10, item 1: every id a job spec names is resolved through the caller's visibility.

Someone else's object and a missing one give the same 404 (same code, same message shape, the field named), so
ids cannot be probed, and nobody can train (and then read) another owner's network through a scaling job.
"""

from __future__ import annotations

from typing import Any

from api.testing import Api
from nas_service.arch.presets import get_preset


def _scaling_job(base: str) -> dict[str, Any]:
    return {"name": "s", "kind": "scaling", "strategy": {"name": "compound-scaling"}, "scaling": {"base": base}}


def _alice_trial(api: Api) -> int:
    job = api.job(api.alice)
    return api.storage.create_trial(job["id"], {"a": 1}, get_preset("mnasnet_a1")).id


def _message_without_id(body: dict[str, Any], ident: int) -> str:
    return str(body["error"]["message"]).replace(str(ident), "N")


def test_scaling_base_of_another_owner_is_404_like_a_missing_one(api: Api) -> None:
    trial_id = _alice_trial(api)
    others = api.client.post("/api/v1/jobs", json=_scaling_job(str(trial_id)), headers=api.bob)
    missing_id = trial_id + 1000
    missing = api.client.post("/api/v1/jobs", json=_scaling_job(str(missing_id)), headers=api.bob)
    assert others.status_code == missing.status_code == 404, (others.text, missing.text)
    assert others.json()["error"]["code"] == missing.json()["error"]["code"] == "not_found"
    assert others.json()["error"]["field"] == missing.json()["error"]["field"] == "scaling.base"
    assert _message_without_id(others.json(), trial_id) == _message_without_id(missing.json(), missing_id)
    assert api.client.get("/api/v1/jobs", headers=api.bob).json()["total"] == 0  # nothing was queued


def test_own_and_admin_references_still_work(api: Api) -> None:
    trial_id = _alice_trial(api)
    own = api.client.post("/api/v1/jobs", json=_scaling_job(str(trial_id)), headers=api.alice)
    assert own.status_code == 201, own.text
    admin = api.client.post("/api/v1/jobs", json=_scaling_job(str(trial_id)), headers=api.admin)
    assert admin.status_code == 201, admin.text


def test_out_of_range_and_padded_trial_ids(api: Api) -> None:
    trial_id = _alice_trial(api)
    huge = api.client.post("/api/v1/jobs", json=_scaling_job("9" * 15), headers=api.bob)
    assert huge.status_code == 404 and huge.json()["error"]["field"] == "scaling.base", huge.text
    padded = api.client.post("/api/v1/jobs", json=_scaling_job(f"000{trial_id}"), headers=api.bob)
    assert padded.status_code == 404, padded.text


def test_trial_without_a_network_is_422(api: Api) -> None:
    job = api.job(api.alice)
    bare = api.storage.create_trial(job["id"], {"a": 1})
    r = api.client.post("/api/v1/jobs", json=_scaling_job(str(bare.id)), headers=api.alice)
    assert r.status_code == 422 and r.json()["error"]["field"] == "scaling.base", r.text


def test_space_id_of_another_owner_is_404_like_a_missing_one(api: Api) -> None:
    space_id = api.space(api.alice)["id"]
    others = api.client.post("/api/v1/jobs", json={"name": "j", "space_id": space_id}, headers=api.bob)
    missing = api.client.post("/api/v1/jobs", json={"name": "j", "space_id": space_id + 50}, headers=api.bob)
    assert others.status_code == missing.status_code == 404
    assert others.json()["error"]["field"] == missing.json()["error"]["field"] == "space_id"
    assert _message_without_id(others.json(), space_id) == _message_without_id(missing.json(), space_id + 50)
