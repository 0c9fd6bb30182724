"""Surrogate-guided multi-objective search: a Gaussian process of accuracy, latency known before training.

Each ask:

1. **Candidates**: ``candidates`` unseen networks, half uniform samples of the space and half mutations of the
   current front (where improvements are likely), de-duplicated; over ``max_latency_ms`` they are dropped.
2. **Latency first**: every candidate's latency comes from the :class:`~nas_service.strategies.latency.
   LatencyOracle` (milliseconds, no training).
3. **Initial design** (fewer than ``n_initial`` results): candidates spread over the latency range (the
   candidate nearest the next quantile of a van der Corput sequence over predicted latency), so the first
   results already span the trade-off.
4. **Afterwards**: a Gaussian process over the architecture encoding (one-hot choices plus log-MACs and
   log-params) predicts accuracy with uncertainty; the candidate with the largest expected hypervolume
   improvement (:func:`~nas_service.strategies._acquisition.expected_hvi`, exact in two dimensions with the
   latency known) is asked. Candidates whose latency cannot extend the front get (nearly) nothing, so they are
   not trained. Several asks at once (and suggestions still in flight) use the "kriging believer": each
   pending candidate joins the front at its predicted accuracy.

Everything is derived from the shared history (told outcomes) and the strategy's RNG: the state is the base
class's, and a resumed strategy refits the same model and asks the same candidates.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from pydantic import Field

from nas_service.arch.spec import Architecture
from nas_service.jobspec import StrategyConfig
from nas_service.strategies._acquisition import GaussianProcess, expected_hvi, front_of
from nas_service.strategies._settings import StrategySettings
from nas_service.strategies.base import BaseStrategy, Objectives, Outcome, SearchSpaceLike
from nas_service.strategies.latency import FittedLatencyOracle, LatencyOracle, observe_outcome


class SurrogateSettings(StrategySettings):
    """Settings of :class:`SurrogateStrategy` (see its docstring)."""

    n_initial: int = Field(8, ge=2, le=10_000)
    candidates: int = Field(256, ge=8, le=100_000)
    max_latency_ms: float | None = Field(None, gt=0, le=1e6)
    max_train_points: int = Field(400, ge=8, le=5_000)


def van_der_corput(i: int) -> float:
    """The ``i``-th point (0-based) of the base-2 van der Corput sequence in (0, 1): 0.5, 0.25, 0.75, ..."""
    x, denom, k = 0.0, 1.0, i + 1
    while k:
        denom *= 2
        x += (k % 2) / denom
        k //= 2
    return x


class SurrogateStrategy(BaseStrategy):
    """Gaussian-process surrogate with expected hypervolume improvement (see the module docstring).

    Settings:
        n_initial: Results before the model is used (default 8); the first asks spread over latency.
        candidates: Candidates scored per ask (default 256).
        max_latency_ms: The job's latency constraint: candidates predicted slower are never asked.
        max_train_points: Cap on the results the GP is fitted to (the most recent; default 400).
    """

    name = "surrogate"
    supports_multi_objective = True
    settings_model = SurrogateSettings
    settings: SurrogateSettings

    def __init__(
        self,
        space: SearchSpaceLike,
        config: StrategyConfig,
        objectives: Objectives | None = None,
        *,
        latency_oracle: LatencyOracle | None = None,
    ):
        """See :class:`BaseStrategy`; ``latency_oracle`` defaults to a :class:`FittedLatencyOracle`."""
        super().__init__(space, config, objectives)
        self.oracle: LatencyOracle = latency_oracle if latency_oracle is not None else FittedLatencyOracle()
        self._choices = {k: v for k, v in space.parameters().items() if len(v) > 1}
        self._features: dict[str, np.ndarray] = {}
        self._archs: dict[str, Architecture] = {}

    @property
    def multi_objective(self) -> bool:
        """Always True: the acquisition is a hypervolume improvement."""
        return True

    # -- encoding -----------------------------------------------------------------------------------------

    def _architecture(self, params: dict[str, Any]) -> Architecture:
        # Candidates come back ask after ask (the pool overlaps): decode each network once.
        key = self.key(params)
        if key not in self._archs:
            self._archs[key] = super()._architecture(params)
        return self._archs[key]

    def encode(self, params: Mapping[str, Any]) -> np.ndarray:
        """One-hot of every searched choice plus log-MACs and log-params (scaled to about unit range)."""
        key = self.key(params)
        if key not in self._features:
            from nas_service.arch.profile import profile_architecture

            canon = self.space.canonicalize(dict(params))
            onehot = [1.0 if canon.get(n) == c else 0.0 for n, cs in self._choices.items() for c in cs]
            profile = profile_architecture(self._architecture(canon))
            extra = [math.log(max(profile.macs, 1)) / 2.0, math.log(max(profile.params, 1)) / 2.0]
            self._features[key] = np.asarray(onehot + extra)
        return self._features[key]

    # -- asking -------------------------------------------------------------------------------------------

    def _candidates(self, front_params: list[dict[str, Any]]) -> list[dict[str, Any]]:
        pool: dict[str, dict[str, Any]] = {}
        total = self.settings.candidates
        for i in range(total * 3):
            if len(pool) >= total:
                break
            if front_params and i % 2 == 1:
                params = self.space.mutate(self.rng.choice(front_params), self.rng, 1 + self.rng.randrange(2))
            else:
                params = self.space.sample(self.rng)
            key = self.key(params)
            if key not in pool and not self.is_seen(params):
                pool[key] = params
        return list(pool.values())

    def _observed(self) -> list[tuple[dict[str, Any], float, float]]:
        out = []
        for h in self.history:
            o = h["outcome"]
            if o["state"] in ("completed", "duplicate") and o.get("accuracy") is not None and o.get("latency_ms"):
                out.append((h["params"], float(o["accuracy"]), float(o["latency_ms"])))
        return out

    def _propose(self, n: int) -> list[dict[str, Any]]:
        observed = self._observed()
        front_keys = {(a, lat) for a, lat in front_of([(a, lat) for _, a, lat in observed])}
        front_params = [p for p, a, lat in observed if (a, lat) in front_keys]
        pool = self._candidates(front_params)
        if not pool:  # the space is used up: repeats as the base class allows
            return [self.draw_unseen(lambda: self.space.sample(self.rng)) for _ in range(n)]
        latency = np.asarray([self.oracle.latency_ms(self._architecture(p)) for p in pool])
        cap = self.settings.max_latency_ms
        if cap is not None and self.oracle.calibrated:
            keep = latency <= cap
            if keep.any():
                pool = [p for p, k in zip(pool, keep, strict=True) if k]
                latency = latency[keep]
        done = len(observed) + len(self._pending)
        if len(observed) < self.settings.n_initial or not self.oracle.calibrated:
            return self._initial(pool, latency, n, done)
        return self._by_ehvi(pool, latency, observed, n)

    def _initial(self, pool: list[dict[str, Any]], latency: np.ndarray, n: int, done: int) -> list[dict[str, Any]]:
        order = list(np.argsort(latency, kind="stable"))
        out = []
        for i in range(n):
            if not order:
                break
            q = van_der_corput(done + i)
            out.append(pool[int(order.pop(min(int(q * len(order)), len(order) - 1)))])
        return out

    def _by_ehvi(
        self,
        pool: list[dict[str, Any]],
        latency: np.ndarray,
        observed: list[tuple[dict[str, Any], float, float]],
        n: int,
    ) -> list[dict[str, Any]]:
        data = observed[-self.settings.max_train_points :]
        gp = GaussianProcess().fit(np.stack([self.encode(p) for p, _, _ in data]), np.asarray([a for _, a, _ in data]))
        mean, std = gp.predict(np.stack([self.encode(p) for p in pool]))
        points = [(a, lat) for _, a, lat in observed]
        # Suggestions in flight count as reached at their predicted accuracy (kriging believer).
        pending = [p for p in self._pending.values()]
        if pending:
            pm, _ = gp.predict(np.stack([self.encode(p) for p in pending]))
            points += [
                (float(m), self.oracle.latency_ms(self._architecture(p))) for m, p in zip(pm, pending, strict=True)
            ]
        acc_ref = min(a for a, _ in points) - 1e-6
        cap = self.settings.max_latency_ms
        lat_ref = cap if cap is not None else max(max(lat for _, lat in points), float(latency.max())) * 1.05
        out: list[dict[str, Any]] = []
        chosen = np.zeros(len(pool), dtype=bool)
        for _ in range(n):
            score = expected_hvi(front_of(points), (acc_ref, lat_ref), latency, mean, std)
            score[chosen] = -1.0
            best = int(np.argmax(score))
            if chosen[best]:
                break
            chosen[best] = True
            out.append(pool[best])
            points.append((float(mean[best]), float(latency[best])))
        return out

    # -- learning -----------------------------------------------------------------------------------------

    def _observe(self, suggestion_id: str, params: dict[str, Any], outcome: Outcome) -> None:
        observe_outcome(self.oracle, self._architecture(params), outcome)

    def _load_extra_state(self, extra: Mapping[str, Any]) -> None:
        # The oracle learns from the history, which the base class has restored: replay it (derived state).
        for h in self.history:
            observe_outcome(self.oracle, self._architecture(h["params"]), Outcome.from_dict(h["outcome"]))
