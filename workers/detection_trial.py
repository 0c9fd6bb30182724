"""One detection trial attempt: build the detector, measure its latency, train it on the detection proxy, score it.

The detection counterpart of :func:`workers.trial.run_trial_detailed`, with the same contract: it never raises
for a problem of the trial itself (the error becomes ``TrialResult(state=failed)``), reports through a
:class:`~workers.trial.TrialReporter`, and returns a :class:`~workers.trial.TrialRun`. The task's accuracy
metric is mAP@[.5:.95] on the validation split (``TrialResult.accuracy``), so the MnasNet reward is
``mAP * (latency / T) ** w``; latency is measured on the job's target as for classification, at the proxy's
resolution.

The detector is trained at ``proxy.resolution`` with the data's number of classes (both replace the
architecture's); the rest of the architecture is trained as given.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from nas_service.arch.detection import DetectionArchitecture
from nas_service.jobspec import TrialResult, TrialState
from nas_service.orchestration.detection import DetectionTrialPayload
from workers.trial import (
    TrialReporter,
    TrialRun,
    _Phases,
    _TimedReporter,
    format_error,
    serialize_weights,
    worker_identity,
)

__all__ = ["DetectionTrialPayload", "run_detection_trial"]


def run_detection_trial(payload: DetectionTrialPayload, reporter: TrialReporter) -> TrialRun:
    """Run one detection trial attempt: data, build, latency, train, reward (see the module docstring)."""
    from nas_service.arch.bifpn import build_detector
    from nas_service.arch.detection_profile import profile_detection
    from nas_service.detection.data import detection_preprocessing, load_detection_data
    from nas_service.reward import mnasnet_reward
    from workers.detection_train import train_detection_proxy
    from workers.latency import describe_device, latency_cache_key, measure_latency, runtime_key
    from workers.train import resolve_device

    wall0 = time.perf_counter()
    phase = _Phases()
    timed = _TimedReporter(reporter)
    node, worker = worker_identity()
    proxy = payload.proxy
    fields: dict[str, Any] = {"node": node, "worker": worker}
    run = TrialRun(result=TrialResult(state=TrialState.FAILED))
    train_report_s = 0.0
    try:
        torch.set_num_threads(proxy.threads)
        timed.heartbeat()
        fields["device"] = describe_device(resolve_device(proxy.device))
        with phase("data"):
            data = load_detection_data(proxy)
        with phase("build"):
            spec = DetectionArchitecture.model_validate(
                {
                    **payload.architecture.model_dump(),
                    "resolution": proxy.resolution,
                    "num_classes": data.num_classes,
                }
            )
            run.measured_arch_hash = spec.arch_hash()
            prof = profile_detection(spec)
            fields["params"], fields["macs"] = prof.params, prof.macs
            torch.manual_seed(proxy.seed)
            model = build_detector(spec)
        input_shape = [3, proxy.resolution, proxy.resolution]
        run.input_shape, run.num_classes = input_shape, data.num_classes
        run.preprocessing = detection_preprocessing(proxy.resolution)
        with phase("latency"):
            latency = payload.cached_latency
            if latency is None or latency.device != describe_device(resolve_device(payload.latency.device)):
                latency = measure_latency(model, input_shape, payload.latency)
                run.latency_key = latency_cache_key(
                    run.measured_arch_hash, input_shape, latency.device, payload.latency
                )
                run.latency_runtime = runtime_key(latency.device)
        fields["latency"] = latency
        timed.latency(latency)
        with phase("train"):
            before = timed.seconds
            outcome = train_detection_proxy(
                model, data, proxy, on_epoch=timed.epoch, should_stop=timed.should_stop, on_step=timed.heartbeat
            )
            train_report_s = timed.seconds - before
        run.images_per_second = outcome.images_per_second
        fields.update(accuracy=outcome.val_accuracy, epochs_run=outcome.epochs_run, train_seconds=outcome.train_seconds)
        if outcome.status in ("completed", "pruned"):
            run.weights = serialize_weights(model)
        fields["state"] = TrialState(outcome.status)
        if outcome.status == "completed" and outcome.val_accuracy is not None:
            r = payload.reward
            run.reward = float(
                mnasnet_reward(
                    outcome.val_accuracy,
                    latency.median_ms,
                    r.target_ms,
                    r.alpha if r.alpha is not None else -0.07,
                    r.beta if r.beta is not None else -0.07,
                )
            )
    except Exception as exc:  # noqa: BLE001 - a trial's own error is its result, never the worker's crash
        fields.update(state=TrialState.FAILED, error=format_error(exc))
    wall = time.perf_counter() - wall0
    run.result = TrialResult(wall_seconds=wall, **fields)
    seconds = phase.seconds
    if "train" in seconds:
        seconds["train"] -= train_report_s
    seconds["report"] = timed.seconds
    seconds["other"] = max(0.0, wall - sum(seconds.values()))
    run.phases = seconds
    return run
