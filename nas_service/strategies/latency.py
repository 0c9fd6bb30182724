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
    """Ridge regression of measured latency on :func:`latency_features`.

    It keeps the sufficient statistics (``X^T X``, ``X^T y``, each feature's largest magnitude) rather than the
    observations, and refits when asked after a new one: an observation costs the same at trial 10 and at trial
    10,000 (a refit over every observation made evolution's report 2.3x slower by 10,000 trials).
    """

    def __init__(self, ridge: float = 1e-3):
        """Create an empty oracle (``ridge``: L2 weight on the standardised, non-intercept coefficients)."""
        self.ridge = ridge
        self._n = 0
        self._xtx: np.ndarray | None = None
        self._xty: np.ndarray | None = None
        self._absmax: np.ndarray | None = None
        self._coef: np.ndarray | None = None
        self._scale: np.ndarray | None = None
        self._stale = False
        self._cache: dict[str, list[float]] = {}

    @property
    def calibrated(self) -> bool:
        """True once enough latencies were observed to fit."""
        return self._n >= MIN_FIT_OBSERVATIONS

    def _features(self, architecture: Architecture) -> list[float]:
        key = architecture.arch_hash()
        if key not in self._cache:
            self._cache[key] = latency_features(architecture)
        return self._cache[key]

    def latency_ms(self, architecture: Architecture) -> float:
        """The fitted estimate, or before the fit an uncalibrated cost (0.05 ms per block + MACs/20M)."""
        f = self._features(architecture)
        if not self.calibrated:
            return 0.05 * f[3] + f[1] / 20.0
        if self._stale:
            self._refit()
        assert self._coef is not None and self._scale is not None
        return float(max(np.asarray(f) / self._scale @ self._coef, 1e-3))

    def observe(self, architecture: Architecture, latency_ms: float) -> None:
        """Add a measured latency (the fit is redone on the next estimate)."""
        x = np.asarray(self._features(architecture), dtype=float)
        if self._xtx is None or self._xty is None or self._absmax is None:
            self._xtx, self._xty, self._absmax = np.zeros((x.size, x.size)), np.zeros(x.size), np.zeros(x.size)
        self._xtx += np.outer(x, x)
        self._xty += x * float(latency_ms)
        self._absmax = np.maximum(self._absmax, np.abs(x))
        self._n += 1
        self._stale = True

    def _refit(self) -> None:
        """Ridge on the features standardised by their largest magnitude (``z = x / scale``, from the sums)."""
        assert self._xtx is not None and self._xty is not None and self._absmax is not None
        scale = np.maximum(self._absmax, 1e-12)
        ztz = self._xtx / np.outer(scale, scale)
        zty = self._xty / scale
        penalty = self.ridge * self._n * np.eye(scale.size)
        penalty[0, 0] = 0.0  # the intercept is not shrunk
        self._coef = np.linalg.solve(ztz + penalty, zty)
        self._scale = scale
        self._stale = False


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
