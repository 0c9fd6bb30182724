"""Detection jobs through the API: submit-time validation (422 naming the field), the stored spec, the scaling
table and trial views of a stored detector."""

from __future__ import annotations

from typing import Any

import pytest

from api.testing import Api
from nas_service.detection.space import shapes_detection_space
from nas_service.jobspec import TrialResult, TrialState

TINY_PROXY = {"resolution": 64, "epochs": 1, "train_images": 8, "val_images": 4, "batch_size": 4}


def _post(api: Api, body: dict[str, Any]) -> Any:
    return api.client.post("/api/v1/jobs", json=body, headers=api.alice)


def _few_stage_base() -> dict[str, Any]:
    """The shapes space's template detector with a backbone that stops at stride 8 (three stages)."""
    base = shapes_detection_space().template.model_dump(mode="json")
    base["backbone"]["stages"] = base["backbone"]["stages"][:3]
    return base


@pytest.mark.parametrize(
    ("detection", "field", "words"),
    [
        ({"proxy": {**TINY_PROXY, "resolution": 96}}, "detection.proxy", "divisible by 2**max_level = 64"),
        ({"proxy": {**TINY_PROXY, "num_classes": 0}}, "detection.proxy.num_classes", "greater than or equal to 1"),
        ({"space": "no-such-space"}, "detection.space", "unknown detection space"),
        ({"scaling": {"phis": [0, 8]}}, "detection.scaling.phis", "outside 0..7"),
        ({"scaling": {"rule": "formula"}}, "detection.scaling", "base"),
        ({"scaling": {"rule": "formula", "base": _few_stage_base()}}, "detection.scaling.base", "backbone"),
    ],
)
def test_bad_detection_jobs_are_422_naming_the_field(
    api: Api, detection: dict[str, Any], field: str, words: str
) -> None:
    kind = "scaling" if "scaling" in detection else "search"
    r = _post(api, {"name": "det", "task": "detection", "kind": kind, "detection": detection})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["field"] == field and words in error["message"], error


def test_detection_settings_without_the_task_and_spaces_on_a_detection_job_are_422(api: Api) -> None:
    r = _post(api, {"name": "det", "detection": {"space": "detection-shapes"}, "space": "digits"})
    assert r.status_code == 422 and "task: detection" in r.json()["error"]["message"]
    r = _post(api, {"name": "det", "task": "detection", "space": "digits"})
    assert r.status_code == 422 and "detection.space" in r.json()["error"]["message"]
    r = _post(api, {"name": "det", "task": "detection", "kind": "scaling"})
    assert r.status_code == 422 and "detection.scaling" in r.json()["error"]["message"]


def test_a_detection_search_is_queued_without_a_space_id(api: Api) -> None:
    r = _post(api, {"name": "det", "task": "detection", "detection": {"proxy": TINY_PROXY}})
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["space_id"] is None and job["spec"]["task"] == "detection"
    assert job["spec"]["detection"]["space"] == "detection-shapes"
    assert job["spec"]["detection"]["proxy"]["resolution"] == 64


def test_detection_scaling_table_and_a_stored_detector_in_trial_views(api: Api) -> None:
    scaling = {"rule": "table", "phis": [0, 1, 2]}
    body = {
        "name": "det-scale",
        "task": "detection",
        "kind": "scaling",
        "detection": {"scaling": scaling, "proxy": {**TINY_PROXY, "resolution": 128}},
    }
    job = _post(api, body).json()
    table = api.client.get(f"/api/v1/jobs/{job['id']}/scaling", headers=api.alice).json()
    assert [r["name"] for r in table["family"]] == ["efficientdet_d0", "efficientdet_d1", "efficientdet_d2"]
    assert [r["params"] for r in table["family"]][0] == 3_880_067
    assert [r["resolution"] for r in table["family"]] == [512, 640, 768]
    assert all(r["state"] == "planned" for r in table["family"]) and "mAP" in table["note"]

    # A trial as the dispatcher stores it: the detector document, its analytic size, a result with mAP.
    from nas_service.detection.job import DetectionScalingSpace
    from nas_service.jobspec import JobSpec

    spec = JobSpec.model_validate(job["spec"])
    assert spec.detection is not None and spec.detection.scaling is not None
    arch = DetectionScalingSpace(spec.detection.scaling, 128).decode({"phi": 0})
    trial = api.storage.create_trial(job["id"], {"phi": 0}, arch, params_count=1, macs=1, claimer="d1")
    api.storage.report_trial(trial.id, 1, TrialResult(state=TrialState.COMPLETED, accuracy=0.25), "k1")
    got = api.client.get(f"/api/v1/trials/{trial.id}", headers=api.alice).json()
    assert got["architecture"]["fpn_channels"] == 64 and got["block_strings"][-1] == [arch.summary_string()]
    listed = api.client.get(f"/api/v1/jobs/{job['id']}/trials", headers=api.alice)
    assert listed.status_code == 200 and listed.json()["total"] == 1
    table = api.client.get(f"/api/v1/jobs/{job['id']}/scaling", headers=api.alice).json()
    assert table["family"][0]["state"] == "completed" and table["family"][0]["accuracy"] == 0.25
    dash = api.client.get(f"/dashboard/api/jobs/{job['id']}/scaling", headers=api.alice).json()
    assert dash["rows"] == table["family"] and dash["note"] == table["note"]  # the job page's scaling panel


def test_a_detection_trial_exports_as_its_detector(api: Api) -> None:
    from nas_service.arch.detection import DetectionArchitecture
    from nas_service.client._api import trial_architecture
    from nas_service.schemas import TrialPublic

    job = _post(api, {"name": "det", "task": "detection", "detection": {"proxy": TINY_PROXY}}).json()
    arch = shapes_detection_space().template
    trial = api.storage.create_trial(job["id"], {}, arch)
    public = TrialPublic.model_validate(api.client.get(f"/api/v1/trials/{trial.id}", headers=api.alice).json())
    got = trial_architecture(public)  # what the SDK and `nas trial export` export (tests/detection/test_export.py)
    assert isinstance(got, DetectionArchitecture) and got == arch
