"""The measurement policy: statistics of one round, re-measuring an unstable one, and the cache key.

Pure Python (no torch): a runner (:mod:`nas_service.latency.runners`) produces per-run timings; this module
decides what they mean.

Policy (:class:`MeasurementPolicy`): a round is ``target.repeats`` timed runs after ``target.warmup`` untimed
ones; its statistics are the median (the headline number), p90 and the coefficient of variation
(``CV = std / mean``). A round whose CV is above ``cv_threshold`` is measured again, up to ``max_rounds``
rounds; the round with the lowest CV is kept, and flagged ``stable=False`` if even it stays above the
threshold. Only stable measurements go into the cross-job cache.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from nas_service.latency.targets import LatencyTarget, target_settings

__all__ = [
    "PROTOCOL_VERSION",
    "MeasurementPolicy",
    "RoundStats",
    "StableMeasurement",
    "latency_cache_key",
    "measure_until_stable",
    "percentile",
    "round_stats",
]

#: Bumped when the measurement protocol changes, so old cache entries stop matching.
PROTOCOL_VERSION = 2


@dataclass(frozen=True)
class MeasurementPolicy:
    """When a measurement is good enough.

    Attributes:
        cv_threshold: Highest acceptable coefficient of variation of one round (0.05 = 5 %).
        max_rounds: Rounds measured at most before a measurement is flagged unstable.
    """

    cv_threshold: float = 0.05
    max_rounds: int = 3

    def __post_init__(self) -> None:
        if not 0 < self.cv_threshold < 10:
            raise ValueError(f"cv_threshold must be in (0, 10), got {self.cv_threshold}")
        if self.max_rounds < 1:
            raise ValueError(f"max_rounds must be at least 1, got {self.max_rounds}")


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation (as ``numpy.percentile``)."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass(frozen=True)
class RoundStats:
    """Statistics of one round of timed runs (milliseconds)."""

    median_ms: float
    p90_ms: float
    mean_ms: float
    std_ms: float
    cv: float
    samples_ms: tuple[float, ...]

    @property
    def samples(self) -> int:
        """Number of timed runs."""
        return len(self.samples_ms)


def round_stats(samples_ms: Sequence[float]) -> RoundStats:
    """Median, p90, mean, std and CV of one round (at least one sample)."""
    if not samples_ms:
        raise ValueError("a measurement round needs at least one timed run")
    values = [float(v) for v in samples_ms]
    mean = statistics.fmean(values)
    std = statistics.pstdev(values)
    return RoundStats(
        median_ms=max(statistics.median(values), 1e-6),
        p90_ms=max(percentile(values, 90), 1e-6),
        mean_ms=max(mean, 1e-6),
        std_ms=std,
        cv=std / mean if mean > 0 else 0.0,
        samples_ms=tuple(values),
    )


@dataclass(frozen=True)
class StableMeasurement:
    """The kept round of a measurement and how it was reached.

    Attributes:
        stats: The kept round (lowest CV).
        rounds: Rounds measured.
        stable: Whether the kept round's CV is within the policy's threshold.
        round_cvs: The CV of every round, in order.
    """

    stats: RoundStats
    rounds: int
    stable: bool
    round_cvs: tuple[float, ...] = field(default_factory=tuple)


def measure_until_stable(run_round: Callable[[], Sequence[float]], policy: MeasurementPolicy) -> StableMeasurement:
    """Measure rounds until one is stable (or ``policy.max_rounds`` were measured).

    Args:
        run_round: Runs one round (warm-up plus timed runs) and returns its per-run timings in ms.
        policy: The CV threshold and round limit.

    Returns:
        The most stable round, flagged unstable when even it is over the threshold.
    """
    best: RoundStats | None = None
    cvs: list[float] = []
    for _ in range(policy.max_rounds):
        stats = round_stats(run_round())
        cvs.append(stats.cv)
        if best is None or stats.cv < best.cv:
            best = stats
        if stats.cv <= policy.cv_threshold:
            break
    assert best is not None  # max_rounds >= 1
    return StableMeasurement(stats=best, rounds=len(cvs), stable=best.cv <= policy.cv_threshold, round_cvs=tuple(cvs))


def latency_cache_key(
    arch_hash: str,
    input_shape: Sequence[int],
    target: LatencyTarget,
    device_name: str,
    runtime_version: str,
) -> str:
    """Key of a whole-network measurement in the cross-job latency cache (target-aware).

    The same network at the same input shape, measured with the same target settings
    (:func:`~nas_service.latency.targets.target_settings`) on the same hardware and runtime version under the
    same protocol, is measured once whichever job (or target name) asked.

    Args:
        arch_hash: :meth:`Architecture.arch_hash` of the network as measured.
        input_shape: Per-sample input shape ``(C, H, W)``.
        target: The target (its settings, not its name, enter the key).
        device_name: The measuring device, e.g. ``cpu:<model>``.
        runtime_version: The runtime and its version, e.g. ``onnxruntime-1.32.0``.

    Returns:
        A hex SHA-256 digest.
    """
    doc = {
        "arch": arch_hash,
        "shape": [int(s) for s in input_shape],
        "target": target_settings(target),
        "device": device_name,
        "runtime": runtime_version,
        "protocol": PROTOCOL_VERSION,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
