"""A ``kind: netadapt`` job through the real dispatcher and storage (both backends), without Ray.

The runner builds each network for real, starts it from the payload's ``init_weights`` with the product's
:func:`~nas_service.arch.inherit.inherit_weights`, and returns its weights (the dispatcher stores them for the
next step); accuracy and latency come from the network's size, so NetAdapt's path is deterministic. Each trial
"measures" in a session of its own speed (x1.0 to x1.6, as a shared machine does), and the parent beside the
proposal in the same session: the job must still reach its budget, on the base's scale. What is
checked is the controller's part: step 0 trains from scratch for ``proxy.epochs``, every proposal fine-tunes for
``finetune_epochs`` from exactly its parent's stored weights, and the table the API serves.
"""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from nas_service.arch.builder import build_model
from nas_service.arch.inherit import inherit_weights
from nas_service.arch.profile import count_macs
from nas_service.arch.spec import Architecture
from nas_service.artifacts import load_trial_weights
from nas_service.jobspec import JobSpec, JobState, LatencyMeasurement, TrialResult, TrialState
from nas_service.orchestration import Dispatcher, InProcessExecutor, TrialPayload, TrialRun
from nas_service.orchestration.inprocess import InProcessReporter
from nas_service.orchestration.netadapt import netadapt_report
from nas_service.storage.base import BaseStorage
from nas_service.testing import size_latency_ms, step_until_done

BASE = [["ds_r1_k3_s1_c16"], ["ir_r2_k5_s2_e6_c32"], ["ir_r2_k3_s2_e6_c40"]]


def _spec(**netadapt: Any) -> JobSpec:
    return JobSpec.model_validate({
        "kind": "netadapt",
        "budget": {"max_trials": 200, "max_concurrent": 3, "max_attempts": 2},
        "proxy": {"dataset": "digits", "resolution": 16, "epochs": 3},
        "netadapt": {"base": BASE, "budget_fraction": 0.6, "finetune_epochs": 1, **netadapt},
    })  # fmt: skip


class _Runner:
    """Real networks and weight inheritance; size-derived accuracy and latency; every payload kept."""

    def __init__(self, slower: bool = False) -> None:
        self.payloads: list[TrialPayload] = []
        self.slower = slower  # every proposal measured slower than the base: NetAdapt cannot progress

    def __call__(self, payload: TrialPayload, reporter: InProcessReporter) -> TrialRun:
        self.payloads.append(payload)
        reporter.heartbeat()
        # As a worker does: the data's classes and channels (digits: 10, grey).
        arch = payload.architecture.model_copy(update={"num_classes": 10, "in_channels": 1})
        model = build_model(arch)
        if payload.init_weights:
            state = torch.load(io.BytesIO(base64.b64decode(payload.init_weights)), weights_only=True)
            assert inherit_weights(model, state).fresh == 0
        buffer = io.BytesIO()
        torch.save(model.state_dict(), buffer)
        macs = count_macs(arch)
        session = 1 + 0.6 * ((int(payload.trial_id) * 7) % 5) / 4  # this trial's measuring conditions
        ms = session * _true_ms(arch)
        if self.slower and payload.init_weights:
            ms = 100.0
        reference = None
        if payload.reference_architecture is not None:
            assert payload.cached_latency is None  # a paired measurement is taken afresh
            reference = session * _true_ms(payload.reference_architecture)
        latency = LatencyMeasurement(
            device="cpu:policy", median_ms=ms, p90_ms=ms, mean_ms=ms, samples=1, reference_ms=reference
        )
        reporter.latency(latency)
        result = TrialResult(
            state=TrialState.COMPLETED, accuracy=min(0.99, 0.05 * math.log(macs)), latency=latency,
            epochs_run=payload.proxy.epochs, node="127.0.0.1", worker="policy",
        )  # fmt: skip
        return TrialRun(result=result, weights=buffer.getvalue())


def _true_ms(arch: Any) -> float:
    return size_latency_ms(arch.model_copy(update={"num_classes": 10, "in_channels": 1}))


def _drive(d: Dispatcher, storage: BaseStorage, job_id: int) -> JobState:
    return step_until_done(d, storage, job_id, 2000)


def _complete(storage: BaseStorage, job_id: int, tmp_path: Path, runner: _Runner | None = None) -> _Runner:
    """Run ``job_id`` to completion on a dispatcher of its own over ``runner``; the runner (its payloads)."""
    runner = runner or _Runner()
    dispatcher = Dispatcher(storage, InProcessExecutor(runner), "d1", poll_s=0.0, data_dir=tmp_path)
    try:
        assert _drive(dispatcher, storage, job_id) == JobState.COMPLETED
    finally:
        dispatcher.close()
    return runner


def test_a_netadapt_job_fine_tunes_each_proposal_from_its_parent(storage: BaseStorage, tmp_path: Path) -> None:
    job_id = storage.create_job("alice", None, _spec()).id
    runner = _complete(storage, job_id, tmp_path)
    job = storage.get_job(job_id)
    assert job.error is None  # meeting the latency budget is the planned end: not "completed short"
    report = netadapt_report(storage, job)
    assert report["status"] == "met", report["note"]
    assert report["current"]["latency_ms"] <= report["budget_ms"] < report["base"]["latency_ms"]
    chosen = [s["chosen"] for s in report["steps"] if s["chosen"]]
    assert len(chosen) >= 2
    # On the base's scale: the base's session speed times the true latency, whatever each trial's session was.
    base_trial = storage.get_trial(report["base"]["trial_id"])
    scale = report["base"]["latency_ms"] / _true_ms(Architecture.model_validate(base_trial.architecture))
    current = storage.get_trial(report["current"]["trial_id"])
    true_now = _true_ms(Architecture.model_validate(current.architecture))
    assert report["current"]["latency_ms"] == pytest.approx(scale * true_now, rel=1e-9)
    assert any(c["measured_ms"] != pytest.approx(c["latency_ms"]) for c in chosen)  # the sessions did differ

    trials = {t.id: t for t in storage.list_trials(job_id, limit=1000).items}
    by_sid = {t.suggestion_id: t for t in trials.values()}
    assert report["base"]["trial_id"] == by_sid[report["base"]["suggestion_id"]].id
    assert all(c["trial_id"] == by_sid[c["suggestion_id"]].id for c in chosen)
    assert report["current"]["trial_id"] == chosen[-1]["trial_id"]

    payloads = {int(p.trial_id): p for p in runner.payloads}
    for trial_id, payload in payloads.items():
        params = trials[trial_id].params
        if params["step"] == 0:
            assert payload.init_weights is None and payload.proxy.epochs == 3
            assert payload.reference_architecture is None
            continue
        assert payload.proxy.epochs == 1  # a brief fine-tuning, not a training from scratch
        parent = by_sid[params["parent"]]
        assert parent.state == TrialState.COMPLETED and parent.id != trial_id
        assert payload.reference_architecture == Architecture.model_validate(parent.architecture)
        stored = load_trial_weights(storage, tmp_path, parent.id)
        assert stored is not None and base64.b64decode(payload.init_weights or "") == stored
    # Each step's proposals start from the network the previous step kept.
    parents = [by_sid[c["suggestion_id"]].suggestion_id for c in chosen[:-1]]
    steps = sorted({t.params["step"] for t in trials.values() if t.params["step"] >= 2})
    assert [next(t.params["parent"] for t in trials.values() if t.params["step"] == s) for s in steps] == parents[
        : len(steps)
    ]

    # Stage two of what it kept (finalize by netadapt) continues from the kept networks' weights, exactly (the
    # runner asserts every tensor was inherited): NetAdapt's long fine-tune, not a training from scratch.
    from nas_service.finalize import final_spec, select_sources

    for by in ("netadapt", "reward"):
        picked = select_sources(storage, job, 2, by)
        final_id = storage.create_job("alice", None, final_spec(job, picked, by=by, epochs=2)).id
        stage_two = _complete(storage, final_id, tmp_path)
        assert len(stage_two.payloads) == 2
        for payload in stage_two.payloads:
            source = storage.get_trial(int(payload.trial_id)).params["source_trial"]
            if by == "reward":
                assert payload.init_weights is None  # other finals train from scratch
                continue
            stored = load_trial_weights(storage, tmp_path, int(source))
            assert stored is not None and base64.b64decode(payload.init_weights or "") == stored


def test_a_base_trial_is_fine_tuned_from_its_weights(storage: BaseStorage, tmp_path: Path) -> None:
    runner = _Runner()
    first = storage.create_job("alice", None, _spec(budget_fraction=0.95)).id
    dispatcher = Dispatcher(storage, InProcessExecutor(runner), "d1", poll_s=0.0, data_dir=tmp_path)
    try:
        assert _drive(dispatcher, storage, first) == JobState.COMPLETED
        source = next(t for t in storage.list_trials(first, limit=1000).items if t.params["step"] == 0)
        second = storage.create_job("alice", None, _spec(base=str(source.id), budget_fraction=0.9)).id
        runner.payloads.clear()
        assert _drive(dispatcher, storage, second) == JobState.COMPLETED
    finally:
        dispatcher.close()
    step0 = next(t for t in storage.list_trials(second, limit=1000).items if t.params["step"] == 0)
    assert step0.params["parent"] == f"trial:{source.id}"
    payload = next(p for p in runner.payloads if int(p.trial_id) == step0.id)
    assert payload.proxy.epochs == 1
    assert base64.b64decode(payload.init_weights or "") == load_trial_weights(storage, tmp_path, source.id)


def test_a_stuck_netadapt_job_says_why_it_ended(storage: BaseStorage, tmp_path: Path) -> None:
    job_id = storage.create_job("alice", None, _spec(patience=2)).id
    _complete(storage, job_id, tmp_path, _Runner(slower=True))
    job = storage.get_job(job_id)
    assert job.error is not None and "NetAdapt stuck" in job.error and "patience" in job.error, job.error
    assert netadapt_report(storage, job)["status"] == "stuck"
