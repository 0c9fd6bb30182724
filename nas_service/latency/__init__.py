"""Latency where the model will run: targets, the measurement policy, and a predictor per target.

Pure parts (no torch) are re-exported here: :class:`LatencyTarget` and the built-in :data:`DEFAULT_TARGET`,
the measurement policy and :func:`latency_cache_key`, the lookup-table parts and :class:`LatencyPredictor`.
The torch-side modules (:mod:`~nas_service.latency.runners`, :mod:`~nas_service.latency.profiling`) are
imported explicitly by workers and the CLI.
"""

from nas_service.latency.lut import NetworkParts, Part, network_parts
from nas_service.latency.measure import (
    MeasurementPolicy,
    RoundStats,
    StableMeasurement,
    latency_cache_key,
    measure_until_stable,
    round_stats,
)
from nas_service.latency.predictor import LatencyPredictor, Prediction, accuracy_report
from nas_service.latency.targets import (
    DEFAULT_TARGET,
    DEFAULT_TARGET_NAME,
    RUNTIMES,
    LatencyTarget,
    LatencyTargetUpdate,
    target_settings,
)

__all__ = [
    "DEFAULT_TARGET",
    "DEFAULT_TARGET_NAME",
    "RUNTIMES",
    "LatencyPredictor",
    "LatencyTarget",
    "LatencyTargetUpdate",
    "MeasurementPolicy",
    "NetworkParts",
    "Part",
    "Prediction",
    "RoundStats",
    "StableMeasurement",
    "accuracy_report",
    "latency_cache_key",
    "measure_until_stable",
    "network_parts",
    "round_stats",
    "target_settings",
]
