"""Latency known before training: ``latency.mode`` ``predict`` and ``predict-then-measure``.

For every candidate it places the dispatcher asks :func:`predicted_latency` for the job target's prediction.

* ``predict-then-measure``: :func:`predicted_over` rejects a candidate whose predicted latency is above
  ``latency.reject_factor`` times the reward's target ``T`` (stored ``rejected`` with the prediction as its
  reason; the strategy is told). Everything else is trained and measured as usual, and the trial's latency
  record carries the prediction beside the measurement (``predicted_ms``). Without a predictor for the target
  (not profiled yet) nothing is rejected: the job only measures.
* ``predict``: the worker measures nothing; the prediction is the trial's latency (``runtime: predicted``) and
  its reward uses it. The API accepts the mode only for a target with a predictor (:func:`require_predictor`).

After a measured trial, :func:`learn_from_trial` lets the predictor learn from the trial's stable measurement.

Predictors are read from storage at most every :data:`REFRESH_S` seconds per target (they refit as the
service measures), and the dispatcher never measures: parts missing from the table are estimated.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from nas_service.latency.lut import network_parts
from nas_service.latency.predictor import LatencyPredictor
from nas_service.latency.targets import DEFAULT_TARGET, DEFAULT_TARGET_NAME, LatencyTarget, target_settings

if TYPE_CHECKING:
    from nas_service.arch.spec import Architecture
    from nas_service.jobspec import JobSpec, LatencyMeasurement
    from nas_service.storage import BaseStorage
    from nas_service.strategies.latency import CallableLatencyOracle

__all__ = [
    "PREDICTED_RUNTIME",
    "REFRESH_S",
    "learn_from_trial",
    "predicted_latency",
    "predicted_over",
    "require_predictor",
    "target_oracle",
    "with_prediction",
]

#: ``LatencyMeasurement.runtime`` of a latency that was predicted, not measured (``latency.mode: predict``).
PREDICTED_RUNTIME = "predicted"

#: Seconds a predictor read from storage is reused before it is read again.
REFRESH_S = 30.0

_cache: dict[str, tuple[float, LatencyPredictor | None]] = {}
_lock = threading.Lock()


def _predictor(storage: BaseStorage, target: LatencyTarget) -> LatencyPredictor | None:
    now = time.monotonic()
    with _lock:
        hit = _cache.get(target.name)
        if hit is not None and now - hit[0] < REFRESH_S:
            return hit[1]
    body = storage.get_latency_predictor(target.name)
    predictor = LatencyPredictor.from_dict(body) if body else None
    if predictor is not None and (not predictor.table or predictor.settings not in ({}, target_settings(target))):
        predictor = None  # empty, or fitted for other settings of the target
    with _lock:
        _cache[target.name] = (now, predictor)
    return predictor


def _job_target(spec: JobSpec) -> LatencyTarget | None:
    cfg = spec.latency
    return cfg.resolved.get(cfg.target) or (DEFAULT_TARGET if cfg.target == DEFAULT_TARGET_NAME else None)


def require_predictor(storage: BaseStorage, spec: JobSpec) -> None:
    """Refuse ``latency.mode: predict`` where nothing could predict (the API calls this when a job is submitted).

    Raises:
        ValueError: The job's target has no usable predictor, or (``local-cpu``) the job measures with other
            settings than the built-in target the predictor was profiled for; the message says what to do.
    """
    cfg = spec.latency
    if cfg.mode != "predict":
        return
    target = _job_target(spec)
    if target is None:
        raise ValueError(f"latency target {cfg.target!r} is not resolved")
    if target is DEFAULT_TARGET and (cfg.threads, cfg.batch_size) != (target.threads, target.batch_size):
        raise ValueError(
            f"mode 'predict' on {target.name!r} predicts {target.threads} thread(s) at batch {target.batch_size}; "
            f"this job asks threads={cfg.threads}, batch_size={cfg.batch_size}"
        )
    with _lock:
        _cache.pop(target.name, None)  # read it now: the submitter may have just profiled it
    if _predictor(storage, target) is None:
        raise ValueError(
            f"mode 'predict' needs a latency predictor for target {target.name!r}, which has none yet: "
            f"profile it first (nas latency profile {target.name}) or use mode 'measure'"
        )


def predicted_latency(storage: BaseStorage, spec: JobSpec, arch: Architecture) -> LatencyMeasurement | None:
    """The job target's predicted latency of ``arch`` (as it will be trained), or ``None``.

    ``None`` when the job's mode is ``measure`` or its target has no usable predictor. The record says what it
    is: ``runtime`` :data:`PREDICTED_RUNTIME`, one "sample", ``predicted_ms`` equal to its median, and a p90 one
    uncertainty above it.
    """
    from nas_service.jobspec import LatencyMeasurement

    cfg = spec.latency
    if cfg.mode == "measure":
        return None
    target = _job_target(spec)
    if target is None:  # a spec stored without going through the API: its target was never resolved
        return None
    predictor = _predictor(storage, target)
    if predictor is None:
        return None
    p = predictor.predict_parts(network_parts(arch))
    return LatencyMeasurement(
        device=f"predicted:{target.name}",
        device_kind=target.device,
        batch_size=target.batch_size,
        threads=target.threads,
        median_ms=p.predicted_ms,
        p90_ms=p.predicted_ms + p.uncertainty_ms,
        mean_ms=p.predicted_ms,
        std_ms=p.uncertainty_ms,
        samples=1,
        target=target.name,
        runtime=PREDICTED_RUNTIME,
        predicted_ms=p.predicted_ms,
    )


def target_oracle(
    storage: BaseStorage, spec: JobSpec, as_measured: Callable[[Architecture], Architecture]
) -> CallableLatencyOracle | None:
    """The latency oracle of a job's latency-aware strategy, from its target's predictor (or ``None``).

    With ``latency.mode`` ``predict`` or ``predict-then-measure`` and a usable predictor for the job's target,
    evolution, mnas-rl, nsga2 and the surrogate know each candidate's predicted latency on the target before
    anything of it is trained, instead of a fit to the job's own first measurements. The predictor is read once
    (a snapshot): the oracle answers the same for the same network while this dispatcher holds the job.

    Args:
        storage: Where the target's predictor is stored.
        spec: The job.
        as_measured: Maps a strategy's candidate to the network as it will be trained and measured.
    """
    from nas_service.strategies.latency import CallableLatencyOracle

    if spec.latency.mode == "measure" or spec.task == "detection":
        return None
    target = _job_target(spec)
    predictor = _predictor(storage, target) if target is not None else None
    if predictor is None:
        return None
    snapshot = LatencyPredictor.from_dict(predictor.to_dict())

    def predict(arch: Architecture) -> float:
        return snapshot.predict_parts(network_parts(as_measured(arch))).predicted_ms

    return CallableLatencyOracle(predict)


def with_prediction(latency: LatencyMeasurement, predicted: LatencyMeasurement | None) -> LatencyMeasurement:
    """A trial's latency record with the prediction made before training beside it (``predicted_ms``)."""
    if predicted is None or latency.predicted_ms is not None:
        return latency
    return latency.model_copy(update={"predicted_ms": predicted.median_ms})


def predicted_over(storage: BaseStorage, spec: JobSpec, arch: Architecture) -> list[str]:
    """Why ``arch`` should not be trained under ``spec``'s latency mode (empty: train it).

    Args:
        storage: Where the target's predictor is stored.
        spec: The job (its ``latency`` mode, target and reject factor, its reward's target latency).
        arch: The candidate as it will be trained and measured.

    Returns:
        One reason (``predicted latency ... > ...``) or nothing.
    """
    cfg = spec.latency
    if cfg.mode != "predict-then-measure":
        return []
    p = predicted_latency(storage, spec, arch)
    limit = cfg.reject_factor * spec.reward.target_ms
    if p is None or p.median_ms <= limit:
        return []
    return [
        f"predicted latency {p.median_ms:.3f} ms (+-{p.std_ms:.3f}) on {p.target} > "
        f"{cfg.reject_factor:g} x target {spec.reward.target_ms:g} ms"
    ]


def learn_from_trial(
    storage: BaseStorage,
    spec: JobSpec,
    architecture: dict[str, Any] | None,
    input_shape: Sequence[int] | None,
    num_classes: int | None,
    latency: LatencyMeasurement | None,
) -> bool:
    """Let the job's target predictor learn from a trial's whole-network measurement (the dispatcher calls this).

    Only a stable measurement of a network whose parts are all in the table teaches the predictor (the
    dispatcher cannot measure missing parts); it is scored first (online accuracy), then the correction is
    refitted and the predictor stored.

    Returns:
        Whether the predictor learned from it.
    """
    from nas_service.arch.spec import Architecture

    if latency is None or not latency.stable or architecture is None or not input_shape or not num_classes:
        return False
    target = spec.latency.resolved.get(spec.latency.target)
    if target is None and spec.latency.target == DEFAULT_TARGET_NAME:
        target = DEFAULT_TARGET
    if target is None or (latency.target not in (None, target.name) and target is not DEFAULT_TARGET):
        return False
    if (latency.threads, latency.batch_size, latency.device_kind) != (target.threads, target.batch_size, target.device):
        return False  # measured with other settings than the predictor's (a local-cpu job's own fields)
    body = storage.get_latency_predictor(target.name)
    if not body:
        return False
    predictor = LatencyPredictor.from_dict(body)
    if not predictor.table or predictor.settings not in ({}, target_settings(target)):
        return False
    measured = Architecture.model_validate(
        {**architecture, "num_classes": num_classes, "in_channels": input_shape[0], "resolution": input_shape[-1]}
    )
    parts = network_parts(measured)
    if predictor.missing(parts):
        return False
    predictor.observe(parts, measured.arch_hash(), latency.median_ms)
    storage.save_latency_predictor(target.name, predictor.to_dict())
    with _lock:
        _cache[target.name] = (time.monotonic(), predictor)
    return True
