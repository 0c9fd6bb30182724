"""Detection jobs through the dispatcher's policy without Ray: real storage (both backends), the in-process
executor running the real detection trial (:func:`workers.detection_trial.run_detection_trial`) on synthetic
shapes at a tiny size."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nas_service.arch.detection import DetectionArchitecture
from nas_service.arch.detection_profile import profile_detection
from nas_service.detection.space import shapes_detection_space
from nas_service.jobspec import JobSpec, JobState, TrialState
from nas_service.orchestration import Dispatcher, InProcessExecutor, TrialRun
from nas_service.orchestration.detection import DetectionTrialPayload
from nas_service.orchestration.inprocess import InProcessReporter
from nas_service.orchestration.reports import job_scaling_report
from nas_service.storage.base import BaseStorage
from nas_service.testing import step_until_done

TINY_PROXY = {"resolution": 64, "epochs": 1, "train_images": 8, "val_images": 4, "batch_size": 4, "device": "cpu"}


def _run(payload: Any, reporter: InProcessReporter) -> TrialRun:
    from workers.detection_trial import run_detection_trial

    assert isinstance(payload, DetectionTrialPayload), type(payload)  # the dispatcher sent a detection payload
    return run_detection_trial(payload, reporter)


def detection_spec(**overrides: Any) -> JobSpec:
    """A detection job sized for a few seconds per trial; ``overrides`` replace top-level sections."""
    base: dict[str, Any] = {
        "name": "det",
        "task": "detection",
        "strategy": {"name": "random", "seed": 0},
        "budget": {"max_trials": 2, "max_concurrent": 2, "max_attempts": 1},
        "latency": {"device": "cpu", "warmup": 1, "repeats": 2},
        "detection": {"space": "detection-shapes", "proxy": TINY_PROXY},
    }
    return JobSpec.model_validate({**base, **overrides})


def _drive(storage: BaseStorage, job_id: int, tmp_path: Path, steps: int = 100) -> JobState:
    d = Dispatcher(storage, InProcessExecutor(_run), "d1", poll_s=0.0, data_dir=tmp_path)
    return step_until_done(d, storage, job_id, steps)


def test_a_detection_search_runs_in_process(storage: BaseStorage, tmp_path: Path) -> None:
    job_id = storage.create_job("alice", None, detection_spec()).id
    assert _drive(storage, job_id, tmp_path) == JobState.COMPLETED, storage.get_job(job_id).error
    rows = list(storage.list_trials(job_id, limit=100).items)
    assert len(rows) == 2
    space = shapes_detection_space()
    for t in rows:
        assert t.state == TrialState.COMPLETED, t.error
        arch = DetectionArchitecture.model_validate(t.architecture)
        assert arch.resolution == 64 and arch.num_classes == 3  # as trained: proxy resolution, data classes
        assert arch.fpn_channels in space.fpn_channels
        assert t.params_count == profile_detection(arch).params  # caps and views see the trained detector
        assert t.accuracy is not None and 0.0 <= t.accuracy <= 1.0  # mAP@[.5:.95]
        assert t.latency_ms is not None and t.reward is not None  # the reward uses mAP as its accuracy
        assert t.block_strings and t.block_strings[-1][0].startswith("bifpn_p3.6")


def test_detection_caps_reject_before_training(storage: BaseStorage, tmp_path: Path) -> None:
    spec = detection_spec(constraints={"max_params": 1000}, budget={"max_trials": 2, "max_concurrent": 1})
    job_id = storage.create_job("alice", None, spec).id
    _drive(storage, job_id, tmp_path, steps=20)
    rows = list(storage.list_trials(job_id, limit=500).items)
    assert rows and all(t.state == TrialState.REJECTED for t in rows)
    first = DetectionArchitecture.model_validate(rows[0].architecture)
    assert rows[0].params_count == profile_detection(first).params > 1000
    assert "max_params 1000" in (rows[0].error or "")


def test_a_detection_scaling_job_runs_in_process(storage: BaseStorage, tmp_path: Path) -> None:
    base = {**shapes_detection_space().template.model_dump(mode="json"), "fpn_channels": 16, "fpn_repeats": 1}
    spec = detection_spec(
        kind="scaling",
        budget={"max_trials": 5, "max_concurrent": 1, "max_attempts": 1},
        detection={"scaling": {"rule": "formula", "base": base, "phis": [0, 1]}, "proxy": TINY_PROXY},
    )
    job_id = storage.create_job("alice", None, spec).id
    assert _drive(storage, job_id, tmp_path) == JobState.COMPLETED, storage.get_job(job_id).error
    rows = list(storage.list_trials(job_id, limit=100).items)
    assert [t.params for t in rows] == [{"phi": 0}, {"phi": 1}]  # the family in phi order, then done
    assert all(t.state == TrialState.COMPLETED for t in rows), [t.error for t in rows]
    nets = [DetectionArchitecture.model_validate(t.architecture) for t in rows]
    assert [n.fpn_channels for n in nets] == [16, 24]  # 16 * 1.35 -> 21.6 -> multiple of 8
    assert [n.fpn_repeats for n in nets] == [1, 2]
    report = job_scaling_report(storage, storage.get_job(job_id))
    family = report["family"]
    assert [r["phi"] for r in family] == [0, 1] and all(r["state"] == "completed" for r in family)
    assert family[1]["fpn_channels"] == 24 and family[1]["resolution"] == 64  # 64 * 1.25 -> multiple of 64
    assert all(r["accuracy"] is not None and r["params"] > 0 for r in family)
    assert family[0]["trained_params"] == rows[0].params_count


def test_the_scaling_table_before_any_trial_uses_the_d_table(storage: BaseStorage) -> None:
    spec = detection_spec(
        kind="scaling", detection={"scaling": {"phis": [0, 1]}, "proxy": {**TINY_PROXY, "resolution": 128}}
    )
    job = storage.create_job("alice", None, spec)
    family = job_scaling_report(storage, job)["family"]
    assert [r["name"] for r in family] == ["efficientdet_d0", "efficientdet_d1"]
    assert family[0]["params"] == 3_880_067 and family[1]["resolution"] == 640  # D0's exact count at 90 classes
    assert [r["trained_resolution"] for r in family] == [128, 128] and {r["state"] for r in family} == {"planned"}


@pytest.mark.parametrize(
    ("detection", "field"),
    [
        ({"proxy": {"resolution": 96}}, "proxy"),
        ({"proxy": {"num_classes": 0}}, "num_classes"),
        ({"space": "nope"}, "space"),
        ({"scaling": {"phis": [9]}}, "phis"),
    ],
)
def test_bad_detection_settings_name_the_field(detection: dict[str, Any], field: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as err:
        JobSpec.model_validate({"task": "detection", "detection": detection})
    assert field in ".".join(str(p) for p in err.value.errors()[0]["loc"])


def test_a_detector_measured_once_reuses_its_latency_in_another_job(storage: BaseStorage, tmp_path: Path) -> None:
    spec = detection_spec(budget={"max_trials": 1, "max_concurrent": 1, "max_attempts": 1})
    d = Dispatcher(storage, InProcessExecutor(_run), "d1", poll_s=0.0, data_dir=tmp_path)
    medians = []
    for _ in range(2):  # the same seed asks the same detector first
        job_id = storage.create_job("alice", None, spec).id
        for _ in range(50):
            d.step(timeout=0.0)
            if storage.get_job(job_id).state == JobState.COMPLETED:
                break
        (trial,) = storage.list_trials(job_id, limit=10).items
        assert trial.state == TrialState.COMPLETED, trial.error
        medians.append((trial.arch_hash, trial.latency_ms, (trial.latency or {}).get("samples_ms")))
    assert medians[0][0] == medians[1][0]
    assert medians[1] == medians[0]  # the cached measurement, not a second one (its samples are identical)


def test_a_lost_detection_attempt_is_retried_from_the_stored_detector(storage: BaseStorage, tmp_path: Path) -> None:
    seen: list[DetectionTrialPayload] = []

    def crash_first(payload: Any, reporter: InProcessReporter) -> TrialRun:
        seen.append(payload)
        if len(seen) == 1:
            raise RuntimeError("worker lost")  # the in-process executor reports a crashed attempt
        return _run(payload, reporter)

    spec = detection_spec(budget={"max_trials": 1, "max_concurrent": 1, "max_attempts": 2})
    job_id = storage.create_job("alice", None, spec).id
    d = Dispatcher(storage, InProcessExecutor(crash_first), "d1", poll_s=0.0, data_dir=tmp_path)
    for _ in range(50):
        d.step(timeout=0.0)
        if storage.get_job(job_id).state == JobState.COMPLETED:
            break
    (trial,) = storage.list_trials(job_id, limit=10).items
    assert trial.state == TrialState.COMPLETED and trial.attempts == 2, trial.error
    assert [p.attempt for p in seen] == [1, 2]
    assert seen[1].architecture == seen[0].architecture  # rebuilt from the stored document, as trained
    assert seen[1].proxy == seen[0].proxy


def test_a_detection_scaling_job_continues_after_a_dispatcher_restart(storage: BaseStorage, tmp_path: Path) -> None:
    base = {**shapes_detection_space().template.model_dump(mode="json"), "fpn_channels": 16, "fpn_repeats": 1}
    spec = detection_spec(
        kind="scaling",
        budget={"max_trials": 5, "max_concurrent": 1, "max_attempts": 2},
        detection={"scaling": {"rule": "formula", "base": base, "phis": [0, 1]}, "proxy": TINY_PROXY},
    )
    job_id = storage.create_job("alice", None, spec).id
    first = Dispatcher(storage, InProcessExecutor(_run), "a", poll_s=0.0, data_dir=tmp_path)
    for _ in range(50):
        first.step(timeout=0.0)
        if any(t.state == TrialState.COMPLETED for t in storage.list_trials(job_id, limit=10).items):
            break
    first.close()
    assert storage.get_job(job_id).state == JobState.RUNNING
    assert _drive(storage, job_id, tmp_path) == JobState.COMPLETED, storage.get_job(job_id).error
    rows = list(storage.list_trials(job_id, limit=100).items)
    assert sorted(t.params["phi"] for t in rows if t.state == TrialState.COMPLETED) == [0, 1]
    assert len({t.suggestion_id for t in rows}) == len(rows)
