"""``latency.mode: predict-then-measure``: reject a candidate predicted far over the target latency, untrained.

The dispatcher asks :func:`predicted_over` for every candidate it is about to place (next to the job's
params/MACs caps). With mode ``predict-then-measure`` and a profiled target, a candidate whose predicted
latency is above ``latency.reject_factor`` times the reward's target ``T`` is stored ``rejected`` with the
prediction as its reason, and the strategy is told; everything else is trained and measured as usual.
Without a predictor for the target (not profiled yet) nothing is rejected: the job only measures.

After a trial, :func:`learn_from_trial` lets the predictor learn from the trial's stable measurement.

Predictors are read from storage at most every :data:`REFRESH_S` seconds per target (they refit as the
service measures), and the dispatcher never measures: parts missing from the table are estimated.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nas_service.latency.lut import network_parts
from nas_service.latency.predictor import LatencyPredictor
from nas_service.latency.targets import DEFAULT_TARGET, DEFAULT_TARGET_NAME, LatencyTarget, target_settings

if TYPE_CHECKING:
    from nas_service.arch.spec import Architecture
    from nas_service.jobspec import JobSpec, LatencyMeasurement
    from nas_service.storage import BaseStorage

__all__ = ["REFRESH_S", "learn_from_trial", "predicted_over"]

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
    target = cfg.resolved.get(cfg.target) or (DEFAULT_TARGET if cfg.target == DEFAULT_TARGET_NAME else None)
    if target is None:  # a spec stored without going through the API: its target was never resolved
        return []
    predictor = _predictor(storage, target)
    if predictor is None:
        return []
    p = predictor.predict_parts(network_parts(arch))
    limit = cfg.reject_factor * spec.reward.target_ms
    if p.predicted_ms <= limit:
        return []
    return [
        f"predicted latency {p.predicted_ms:.3f} ms (+-{p.uncertainty_ms:.3f}) on {target.name} > "
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
