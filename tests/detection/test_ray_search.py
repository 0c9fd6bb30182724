"""A tiny detection search on a real local Ray: a strategy asks detectors of the detection space, they train
on synthetic shapes as detection trials through the Ray executor, and the strategy is told their outcomes."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from nas_service.detection.config import DetectionProxyConfig
from nas_service.detection.space import shapes_detection_space
from nas_service.jobspec import LatencyConfig, StrategyConfig, TrialState
from nas_service.strategies import Outcome
from nas_service.strategies.registry import make_strategy
from workers.detection_trial import DetectionTrialPayload
from workers.executor import EpochEvent, ExecutorEvent, FinishedEvent, RayExecutor
from workers.trial import TrialPayload

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module")
def executor() -> Iterator[RayExecutor]:
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ex = RayExecutor(heartbeat_interval_s=0.2)
    yield ex
    ex.shutdown()
    if started:
        ray.shutdown()


def test_tiny_detection_search(executor: RayExecutor) -> None:
    space = shapes_detection_space()
    proxy = DetectionProxyConfig(resolution=64, epochs=2, train_images=16, val_images=4, batch_size=8)
    latency = LatencyConfig(warmup=1, repeats=3)
    strategy = make_strategy(StrategyConfig(name="random", seed=0), space)
    handles = {
        executor.submit(
            DetectionTrialPayload(
                trial_id=s.suggestion_id, job_id="det", architecture=s.architecture, proxy=proxy, latency=latency
            ),
            runner="detection",
        ): s
        for s in strategy.ask(3)
    }
    events: list[ExecutorEvent] = []
    deadline = time.monotonic() + 300
    while sum(isinstance(e, FinishedEvent) for e in events) < len(handles):
        assert time.monotonic() < deadline, f"timed out; events so far: {events}"
        events.extend(executor.poll(timeout=0.5))
    rewards = {}
    for h in handles:
        (done,) = [e for e in events if isinstance(e, FinishedEvent) and e.handle == h]
        assert done.result.state == TrialState.COMPLETED, done.result.error
        assert done.result.accuracy is not None and 0.0 <= done.result.accuracy <= 1.0  # mAP@[.5:.95]
        assert [e.report.epoch for e in events if isinstance(e, EpochEvent) and e.handle == h] == [1, 2]
        assert done.run is not None and done.run.reward is not None
        assert done.result.params and done.result.latency
        outcome = Outcome.from_trial_result(done.result, reward=done.run.reward)
        strategy.tell(handles[h].suggestion_id, outcome)
        rewards[h] = outcome.reward
    assert all(r is not None and r >= 0 for r in rewards.values())
    assert len(strategy.ask(1)) == 1  # the strategy goes on after being told


def test_detection_runner_refuses_a_classification_payload(executor: RayExecutor) -> None:
    from nas_service.arch import get_preset

    payload = TrialPayload(trial_id="x", job_id="det", architecture=get_preset("mnasnet_a1"))
    with pytest.raises(TypeError, match="DetectionTrialPayload"):
        executor.submit(payload, runner="detection")
