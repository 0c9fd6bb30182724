"""A detection trial attempt end to end in-process: data, build, latency, training, mAP reward; failures."""

from __future__ import annotations

from collections.abc import Callable

from nas_service.arch import DetectionArchitecture, profile_detection
from nas_service.detection.config import DetectionProxyConfig
from nas_service.detection.data import detection_preprocessing
from nas_service.jobspec import LatencyConfig, TrialState
from workers.detection_trial import DetectionTrialPayload, run_detection_trial
from workers.trial import NullReporter

FAST_LATENCY = LatencyConfig(device="cpu", warmup=1, repeats=3)


def test_completed_trial_reports_map_and_reward(tiny_detector: Callable[..., DetectionArchitecture]) -> None:
    proxy = DetectionProxyConfig(resolution=64, epochs=1, train_images=16, val_images=4, batch_size=8, device="cpu")
    payload = DetectionTrialPayload(
        trial_id=1, job_id=1, architecture=tiny_detector(num_classes=90), proxy=proxy, latency=FAST_LATENCY
    )
    reporter = NullReporter()
    run = run_detection_trial(payload, reporter)
    result = run.result
    assert result.state == TrialState.COMPLETED, result.error
    assert result.accuracy is not None and 0.0 <= result.accuracy <= 1.0
    assert result.params == profile_detection(tiny_detector(num_classes=3)).params  # the data's 3 classes
    assert result.latency is not None and reporter.measured == result.latency
    assert run.reward is not None and len(reporter.epochs) == 1 and reporter.heartbeats >= 2
    assert run.num_classes == 3 and run.input_shape == [3, 64, 64] and run.weights
    assert run.preprocessing == detection_preprocessing(64)  # stored beside the weights: exports embed it
    assert {"data", "build", "latency", "train", "report", "other"} <= set(run.phases)


def test_bad_resolution_fails_the_trial_naming_the_field(tiny_detector: Callable[..., DetectionArchitecture]) -> None:
    proxy = DetectionProxyConfig(resolution=48, epochs=1, train_images=4, val_images=2, device="cpu")
    payload = DetectionTrialPayload(trial_id=2, job_id=1, architecture=tiny_detector(), proxy=proxy)
    result = run_detection_trial(payload, NullReporter()).result
    assert result.state == TrialState.FAILED
    assert result.error is not None and "resolution" in result.error and "2**max_level = 64" in result.error
