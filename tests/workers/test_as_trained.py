"""The dispatcher judges, de-duplicates and stores the network as trained, and keeps its trained weights.

The network as trained has the proxy data's classes and channels, and the candidate's own resolution when the
job searches resolution (else the proxy's). :class:`LocalExecutor` runs the real trial in this process, so
what is stored at creation can be compared with what the worker trained.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nas_service.arch.builder import build_model
from nas_service.arch.profile import count_macs
from nas_service.arch.spec import Architecture
from nas_service.artifacts import artifact_store_for, trial_weights_key
from nas_service.export import load_state_dict
from nas_service.jobspec import JobSpec, JobState, TrialState
from nas_service.space import SearchSpace, tiny_space
from nas_service.storage import SQLAlchemyStorage
from nas_service.storage.schema import upgrade
from workers.dispatcher import Dispatcher
from workers.executor import EpochEvent, ExecutorEvent, FinishedEvent, HeartbeatEvent, LatencyEvent, TrialHandle
from workers.trial import NullReporter, TrialPayload, TrialRun, run_trial_detailed

from .test_dispatcher import ScriptedExecutor


class LocalExecutor:
    """Runs each attempt for real, in this process, when it is submitted; its events come on the next poll."""

    def __init__(self) -> None:
        self.runs: list[tuple[TrialPayload, TrialRun]] = []
        self._events: list[ExecutorEvent] = []

    def submit(self, payload: TrialPayload, resources: Any = None, runner: str = "train") -> TrialHandle:
        handle = TrialHandle(payload.trial_id, payload.job_id, payload.attempt, f"local{len(self.runs)}")
        reporter = NullReporter()
        run = run_trial_detailed(payload, reporter)
        self.runs.append((payload, run))
        self._events.append(HeartbeatEvent(handle, 1, "127.0.0.1", "local", time.time()))
        if reporter.measured is not None:
            self._events.append(LatencyEvent(handle, reporter.measured))
        self._events += [EpochEvent(handle, report) for report in reporter.epochs]
        self._events.append(FinishedEvent(handle, run.result, run))
        return handle

    def poll(self, timeout: float = 0.0) -> list[ExecutorEvent]:
        events, self._events = self._events, []
        return events

    def cancel(self, handle: TrialHandle, grace_s: float | None = None) -> None:
        pass

    def prune(self, handle: TrialHandle) -> None:
        pass

    def shutdown(self) -> None:
        pass


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLAlchemyStorage]:
    url = f"sqlite:///{tmp_path / 'nas.db'}"
    upgrade(url)
    storage = SQLAlchemyStorage(url)
    yield storage
    storage.close()


def _tiny_space(resolutions: list[int], fixed: bool = True) -> SearchSpace:
    """The tiny space at these resolutions; ``fixed``: every stage choice fixed (networks differ in resolution)."""
    body = tiny_space().model_dump(mode="json")
    if fixed:
        body["name"] = "fixed"
        body["stages"][0].update(ops=["mbconv"], kernels=[3], expansions=[3.0])
        body["stages"][1].update(ops=["mbconv"], mixed_kernels=None, partition=["equal"])
    body["resolutions"] = resolutions
    return SearchSpace.from_dict(body)


def _job(store: SQLAlchemyStorage, space: SearchSpace, **overrides: Any) -> int:
    base: dict[str, Any] = {
        "strategy": {"name": "grid", "seed": 0},
        "budget": {"max_trials": 2, "max_concurrent": 1, "max_attempts": 1},
        "proxy": {"dataset": "digits", "resolution": 16, "epochs": 1, "max_train_samples": 200},
        "latency": {"device": "cpu", "warmup": 1, "repeats": 3},
    }
    base.update(overrides)
    record = store.create_space("alice", space.name, space.model_dump(mode="json"))
    return store.create_job("alice", record.id, JobSpec.model_validate(base)).id


def _drive(dispatcher: Dispatcher, store: SQLAlchemyStorage, job_id: int) -> JobState:
    for _ in range(40):
        dispatcher.step(timeout=0.0)
        if store.get_job(job_id).state in (JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED):
            break
    return store.get_job(job_id).state


def _as_trained(space: SearchSpace, resolution: int) -> Architecture:
    """The space's network at ``resolution`` with digits' classes and channels."""
    params = next(p for p in space.grid() if p["resolution"] == resolution)
    return space.decode(params).model_copy(update={"num_classes": 10, "in_channels": 1})


def test_a_job_over_two_resolutions_trains_each_candidate_at_its_own(store: SQLAlchemyStorage, tmp_path: Path) -> None:
    space = _tiny_space([16, 32])
    job_id = _job(store, space)
    ex = LocalExecutor()
    dispatcher = Dispatcher(store, ex, "d1", data_dir=tmp_path / "data")
    assert _drive(dispatcher, store, job_id) == JobState.COMPLETED
    trials = store.list_trials(job_id, limit=10).items
    assert sorted(t.state for t in trials) == [TrialState.COMPLETED] * 2
    by_res = {Architecture.model_validate(t.architecture).resolution: t for t in trials}
    assert set(by_res) == {16, 32}
    for res, trial in by_res.items():
        arch = Architecture.model_validate(trial.architecture)
        assert (arch.num_classes, arch.in_channels) == (10, 1)  # digits, not the space's 3 channels
        assert arch == _as_trained(space, res)
        assert trial.macs == count_macs(arch, res)  # stored at creation; the worker's result agrees
        # The trained weights were stored where the artifacts route serves them, for this very network.
        weights = artifact_store_for(store, tmp_path / "data", "database").get(trial_weights_key(trial.id))
        state = load_state_dict(weights)
        build_model(arch).load_state_dict(state, strict=True)
    assert by_res[32].macs and by_res[16].macs and by_res[32].macs > 2 * by_res[16].macs
    for payload, run in ex.runs:
        res = payload.architecture.resolution
        assert run.input_shape == [1, res, res]  # trained and latency-measured at its own resolution
        assert run.result.latency is not None and run.result.macs == count_macs(payload.architecture, res)
        assert run.measured_arch_hash == payload.architecture.arch_hash()
    assert sorted(p.architecture.resolution for p, _ in ex.runs) == [16, 32]
    # The artifacts route of the real app serves the saved file to the trial's owner.
    from fastapi.testclient import TestClient

    from api.app import create_app
    from nas_service.settings import Settings

    token = store.create_token("alice").token
    with TestClient(create_app(Settings(data_dir=tmp_path / "data"), store)) as client:
        trial = by_res[32]
        reply = client.get(f"/api/v1/trials/{trial.id}/weights", headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 200, reply.text
    assert reply.content == artifact_store_for(store, tmp_path / "data", "database").get(trial_weights_key(trial.id))


@pytest.mark.parametrize("first_attempt", ["complete", "hang"])
def test_candidates_equal_as_trained_are_duplicates(store: SQLAlchemyStorage, first_attempt: str) -> None:
    # One resolution in the space (24) and the proxy's 16: a candidate's own resolution, classes and
    # channels make no difference to the network trained.
    job_id = _job(store, _tiny_space([24], fixed=False), budget={"max_trials": 3, "max_concurrent": 1})
    ex = ScriptedExecutor(lambda p: first_attempt)
    dispatcher = Dispatcher(store, ex, "d1")
    dispatcher.step(timeout=0.0)
    assert len(ex.submitted) == 1
    first = ex.submitted[0][1].architecture
    assert (first.resolution, first.num_classes, first.in_channels) == (16, 10, 1)
    run = dispatcher.jobs[job_id]
    (suggestion,) = run.strategy.ask(1)  # the grid's next network, which we replace with a variant of the first
    variant = first.model_copy(update={"resolution": 224, "num_classes": 1000, "in_channels": 3})
    dispatcher._place(run, dataclasses.replace(suggestion, architecture=variant))
    assert len(ex.submitted) == 1  # not trained again
    dup = store.list_trials(job_id, states=[TrialState.DUPLICATE], limit=10).items
    assert len(dup) == 1 and dup[0].arch_hash == first.arch_hash()
    assert dup[0].error and "duplicate of trial" in dup[0].error


def test_caps_judge_the_as_trained_macs(store: SQLAlchemyStorage) -> None:
    space = _tiny_space([16, 32])
    small, large = _as_trained(space, 16), _as_trained(space, 32)
    cap = count_macs(small, 16)
    sampled = space.decode(next(p for p in space.grid() if p["resolution"] == 16))
    assert count_macs(sampled, 16) > cap  # the sampled net (3 input channels) would be over it
    assert count_macs(large, 32) > cap
    job_id = _job(store, space, constraints={"max_macs": cap})
    ex = ScriptedExecutor()
    assert _drive(Dispatcher(store, ex, "d1"), store, job_id) == JobState.COMPLETED
    states = {
        Architecture.model_validate(t.architecture).resolution: (t.state, t.macs)
        for t in store.list_trials(job_id, limit=10).items
    }
    assert states[16][0] == TrialState.COMPLETED
    assert states[32] == (TrialState.REJECTED, count_macs(large, 32))
    assert [p.architecture.resolution for _, p in ex.submitted] == [16]
