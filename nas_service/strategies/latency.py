"""What latency-aware strategies know about a candidate's latency before it is trained.

Latency costs milliseconds to seconds to get (measured on the target, or predicted), accuracy costs a training:
a latency-aware strategy asks a :class:`LatencyOracle` first and trains only what could pay off. Two oracles:

* :class:`FittedLatencyOracle` (the default, needs nothing but the strategy's own results): a ridge
  regression of measured latency on analytic features of the network (MACs, parameters, blocks, activation
  sizes, SE blocks; :func:`nas_service.arch.profile.profile_architecture`), refitted on every trained
  candidate's measured latency. Before it has enough observations it returns an uncalibrated cost (per-block
  overhead plus MACs) that only orders candidates.
* :class:`CallableLatencyOracle`: any ``Architecture -> milliseconds`` callable, e.g. a latency measured on
  the target before training, or a trained latency predictor (``nas_service.latency``) once it exists.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np

from nas_service.arch.profile import profile_architecture
from nas_service.arch.spec import Architecture

#: Observations before :class:`FittedLatencyOracle` trusts its fit (more than its feature count).
MIN_FIT_OBSERVATIONS = 8


@runtime_checkable
class LatencyOracle(Protocol):
    """A cheap latency estimate for a network that has not been trained.

    ``calibrated`` says whether :meth:`latency_ms` is on the scale of measured latencies (so it may be
    compared with them) or only orders candidates. ``observe`` is told every measured latency.
    """

    @property
    def calibrated(self) -> bool: ...  # noqa: D102

    def latency_ms(self, architecture: Architecture) -> float: ...  # noqa: D102

    def observe(self, architecture: Architecture, latency_ms: float) -> None: ...  # noqa: D102


def latency_features(architecture: Architecture) -> list[float]:
    """Analytic features that latency at batch 1 grows with: MACs, parameters, blocks, activations, SE.

    A detector (:class:`~nas_service.arch.detection.DetectionArchitecture`) gives its backbone's features with the
    whole detector's MACs and parameters (BiFPN and heads included).
    """
    from nas_service.arch.detection import DetectionArchitecture

    if isinstance(architecture, DetectionArchitecture):
        from nas_service.arch.detection_profile import profile_detection

        whole = profile_detection(architecture)
        backbone = latency_features(architecture.backbone.model_copy(update={"resolution": architecture.resolution}))
        return [1.0, whole.macs / 1e6, whole.params / 1e5, *backbone[3:]]
    profile = profile_architecture(architecture)
    blocks = sum(r.repeats for r in profile.rows)
    activations = sum(r.repeats * r.out_size * r.out_size * r.out_channels for r in profile.rows)
    se = sum(r.repeats for r in profile.rows if "_se" in r.block_string)
    stem = profile.stem_out_size * profile.stem_out_size * profile.stem_channels
    return [1.0, profile.macs / 1e6, profile.params / 1e5, float(blocks), (activations + stem) / 1e4, float(se)]


class FittedLatencyOracle:
    """Ridge regression of measured latency on :func:`latency_features`, refitted on every observation."""

    def __init__(self, ridge: float = 1e-3):
        """Create an empty oracle (``ridge``: L2 weight on the standardised, non-intercept coefficients)."""
        self.ridge = ridge
        self._x: list[list[float]] = []
        self._y: list[float] = []
        self._coef: np.ndarray | None = None
        self._scale: np.ndarray | None = None
        self._cache: dict[str, list[float]] = {}

    @property
    def calibrated(self) -> bool:
        """True once enough latencies were observed to fit."""
        return self._coef is not None

    def _features(self, architecture: Architecture) -> list[float]:
        key = architecture.arch_hash()
        if key not in self._cache:
            self._cache[key] = latency_features(architecture)
        return self._cache[key]

    def latency_ms(self, architecture: Architecture) -> float:
        """The fitted estimate, or before the fit an uncalibrated cost (0.05 ms per block + MACs/20M)."""
        f = self._features(architecture)
        if self._coef is None or self._scale is None:
            return 0.05 * f[3] + f[1] / 20.0
        return float(max(np.asarray(f) / self._scale @ self._coef, 1e-3))

    def observe(self, architecture: Architecture, latency_ms: float) -> None:
        """Add a measured latency and refit."""
        self._x.append(self._features(architecture))
        self._y.append(float(latency_ms))
        if len(self._y) < MIN_FIT_OBSERVATIONS:
            return
        x, y = np.asarray(self._x), np.asarray(self._y)
        scale = np.maximum(np.abs(x).max(axis=0), 1e-12)
        z = x / scale
        penalty = self.ridge * len(y) * np.eye(z.shape[1])
        penalty[0, 0] = 0.0  # the intercept is not shrunk
        self._coef = np.linalg.solve(z.T @ z + penalty, z.T @ y)
        self._scale = scale


class CallableLatencyOracle:
    """An oracle over a callable (a measurement on the target, a predictor); always calibrated."""

    calibrated = True

    def __init__(self, fn: Callable[[Architecture], float]):
        """Wrap ``fn`` (``Architecture -> milliseconds``); its answers are cached by architecture hash."""
        self._fn = fn
        self._cache: dict[str, float] = {}

    def latency_ms(self, architecture: Architecture) -> float:
        """``fn(architecture)``, once per architecture."""
        key = architecture.arch_hash()
        if key not in self._cache:
            self._cache[key] = float(self._fn(architecture))
        return self._cache[key]

    def observe(self, architecture: Architecture, latency_ms: float) -> None:
        """Measured latencies need no learning; nothing to do."""


def over_cap(oracle: LatencyOracle, architecture: Architecture, cap_ms: float | None) -> bool:
    """True when a latency cap is set, the oracle is calibrated and it puts ``architecture`` over the cap
    (an uncalibrated oracle cannot be compared with milliseconds, so it never rejects)."""
    return cap_ms is not None and oracle.calibrated and oracle.latency_ms(architecture) > cap_ms


def observe_outcome(oracle: LatencyOracle, architecture: Architecture, outcome: Any) -> None:
    """Tell ``oracle`` the measured latency of a usable outcome (others carry no trustworthy latency)."""
    if outcome.usable and outcome.latency_ms is not None:
        oracle.observe(architecture, float(outcome.latency_ms))
