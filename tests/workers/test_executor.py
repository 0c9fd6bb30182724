"""The Ray execution layer on a real local Ray: results, streamed epochs, a killed worker, cancel."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator

import pytest

from nas_service.arch.spec import Architecture
from nas_service.jobspec import LatencyConfig, ProxyConfig, TrialState
from workers.executor import (
    CrashedEvent,
    EpochEvent,
    ExecutorEvent,
    FinishedEvent,
    HeartbeatEvent,
    RayExecutor,
    TrialHandle,
)
from workers.trial import TrialPayload

pytestmark = pytest.mark.ray


@pytest.fixture
def executor(ray_local: None) -> Iterator[RayExecutor]:
    ex = RayExecutor(heartbeat_interval_s=0.2, cancel_grace_s=30.0)
    yield ex
    ex.shutdown()


def _payload(trial_id: str, arch: Architecture, proxy: ProxyConfig, latency: LatencyConfig) -> TrialPayload:
    return TrialPayload(trial_id=trial_id, job_id="job", architecture=arch, proxy=proxy, latency=latency)


def _collect(
    ex: RayExecutor, until: Callable[[list[ExecutorEvent]], bool], timeout: float = 120.0
) -> list[ExecutorEvent]:
    events: list[ExecutorEvent] = []
    deadline = time.monotonic() + timeout
    while not until(events):
        assert time.monotonic() < deadline, f"timed out; events so far: {events}"
        events.extend(ex.poll(timeout=0.5))
    return events


def _finished(events: list[ExecutorEvent], handle: TrialHandle | None = None) -> list[FinishedEvent]:
    return [e for e in events if isinstance(e, FinishedEvent) and (handle is None or e.handle == handle)]


def test_two_trials_stream_epochs_and_finish(
    executor: RayExecutor, tiny_arch: Architecture, tiny_proxy: ProxyConfig, quick_latency: LatencyConfig
) -> None:
    proxy = tiny_proxy.model_copy(update={"epochs": 2})
    handles = [executor.submit(_payload(f"t{i}", tiny_arch, proxy, quick_latency)) for i in range(2)]
    assert set(executor.running()) == set(handles)
    events = _collect(executor, lambda evs: len(_finished(evs)) == 2)
    for h in handles:
        mine = [e for e in events if e.handle == h]
        kinds = [type(e).__name__ for e in mine]
        assert kinds[-1] == "FinishedEvent" and "HeartbeatEvent" in kinds
        epochs = [e.report.epoch for e in mine if isinstance(e, EpochEvent)]
        assert epochs == [1, 2]  # streamed, in order, before the result
        assert kinds.index("LatencyEvent") < kinds.index("EpochEvent")  # latency comes before training
        (done,) = _finished(events, h)
        r = done.result
        assert r.state == TrialState.COMPLETED, r.error
        assert r.accuracy is not None and r.latency and r.params and r.macs and r.epochs_run == 2
        assert done.run is not None and done.run.reward is not None and done.run.phases["train"] > 0
        beat = next(e for e in mine if isinstance(e, HeartbeatEvent))
        assert r.node and r.node.startswith(beat.node_ip) and r.worker and r.worker.endswith(f":{beat.pid}")
        assert beat.pid != os.getpid()
    assert executor.running() == []


def test_noop_runner_and_failed_trial(
    executor: RayExecutor, tiny_arch: Architecture, quick_latency: LatencyConfig
) -> None:
    noop = executor.submit(_payload("n", tiny_arch, ProxyConfig(), quick_latency), runner="noop")
    bad_proxy = ProxyConfig(dataset="npz", data_path="/nonexistent.npz")
    bad = executor.submit(_payload("bad", tiny_arch, bad_proxy, quick_latency))
    events = _collect(executor, lambda evs: len(_finished(evs)) == 2)
    assert _finished(events, noop)[0].result.state == TrialState.COMPLETED
    failed = _finished(events, bad)[0].result
    assert failed.state == TrialState.FAILED and failed.error and "DatasetError" in failed.error
    with pytest.raises(ValueError, match="unknown runner"):
        executor.submit(_payload("x", tiny_arch, ProxyConfig(), quick_latency), runner="nope")


def test_killed_worker_is_reported_crashed(
    executor: RayExecutor, tiny_arch: Architecture, tiny_proxy: ProxyConfig, quick_latency: LatencyConfig
) -> None:
    long_proxy = tiny_proxy.model_copy(update={"epochs": 200, "max_train_samples": 200})
    handle = executor.submit(_payload("victim", tiny_arch, long_proxy, quick_latency))
    events = _collect(executor, lambda evs: any(isinstance(e, HeartbeatEvent) for e in evs))
    pid = next(e.pid for e in events if isinstance(e, HeartbeatEvent))
    assert executor.last_heartbeat(handle) is not None
    os.kill(pid, signal.SIGKILL)
    events = _collect(executor, lambda evs: any(isinstance(e, CrashedEvent | FinishedEvent) for e in evs))
    crashed = [e for e in events if isinstance(e, CrashedEvent)]
    assert crashed and crashed[0].handle == handle, events
    assert "Error" in crashed[0].error
    assert executor.running() == []


def test_cancel_stops_a_running_trial_promptly(
    executor: RayExecutor, tiny_arch: Architecture, tiny_proxy: ProxyConfig, quick_latency: LatencyConfig
) -> None:
    long_proxy = tiny_proxy.model_copy(update={"epochs": 200, "max_train_samples": 200})
    handle = executor.submit(_payload("c", tiny_arch, long_proxy, quick_latency))
    _collect(executor, lambda evs: any(isinstance(e, EpochEvent) for e in evs))
    executor.cancel(handle)  # a 30 s grace: the trial must stop by itself, well before that
    events = _collect(executor, lambda evs: bool(_finished(evs)), timeout=25.0)
    (done,) = _finished(events, handle)
    assert done.result.state == TrialState.CANCELLED and done.run is not None  # cooperative, not killed
    assert 1 <= done.result.epochs_run < 200


def test_cancel_kills_after_the_grace_period(
    executor: RayExecutor, tiny_arch: Architecture, tiny_proxy: ProxyConfig, quick_latency: LatencyConfig
) -> None:
    handle = executor.submit(
        _payload("k", tiny_arch, tiny_proxy.model_copy(update={"epochs": 200, "max_train_samples": 200}), quick_latency)
    )
    _collect(executor, lambda evs: any(isinstance(e, HeartbeatEvent) for e in evs))
    executor.cancel(handle, grace_s=0.0)
    events = _collect(executor, lambda evs: bool(_finished(evs)), timeout=60.0)
    (done,) = _finished(events, handle)
    assert done.result.state == TrialState.CANCELLED


def test_prune_stops_with_the_last_accuracy(
    executor: RayExecutor, tiny_arch: Architecture, tiny_proxy: ProxyConfig, quick_latency: LatencyConfig
) -> None:
    handle = executor.submit(
        _payload("p", tiny_arch, tiny_proxy.model_copy(update={"epochs": 200, "max_train_samples": 200}), quick_latency)
    )
    _collect(executor, lambda evs: any(isinstance(e, EpochEvent) for e in evs))
    executor.prune(handle)
    events = _collect(executor, lambda evs: bool(_finished(evs)), timeout=60.0)
    (done,) = _finished(events, handle)
    assert done.result.state == TrialState.PRUNED and done.result.accuracy is not None
    assert done.result.epochs_run >= 1


def test_missing_resources_are_what_no_node_of_the_cluster_advertises(executor: RayExecutor) -> None:
    assert executor.missing_resources(["CPU", "latency:nowhere"]) == ["latency:nowhere"]
    assert executor.missing_resources([]) == []
