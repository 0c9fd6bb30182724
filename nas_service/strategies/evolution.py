"""Regularized (aging) evolution (Real et al., 2019), optionally with a Pareto tournament."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from pydantic import Field

from nas_service.strategies._ranking import pareto_ranks
from nas_service.strategies._settings import StrategySettings
from nas_service.strategies.base import BaseStrategy, Outcome


class EvolutionSettings(StrategySettings):
    """Settings of :class:`EvolutionStrategy` (see its docstring)."""

    population: int = Field(20, ge=1, le=100_000)
    sample_size: int = Field(5, ge=1, le=100_000)
    n_mutations: int = Field(1, ge=1, le=64)
    multi_objective: bool = False


class EvolutionStrategy(BaseStrategy):
    """Aging evolution over ``space.mutate``.

    The population holds the last ``population`` usable results in arrival order. Until it is full (counting
    suggestions still in flight) candidates are random samples (warm-up). Afterwards each candidate is a
    mutation of the tournament winner of ``sample_size`` members drawn uniformly from the population; every
    usable tell joins the population and the oldest member leaves (age, not fitness, decides who dies: the
    regularisation).
    Rejected, failed and pruned candidates never join the population, so they never become parents.

    Settings:
        population: Population size P (default 20).
        sample_size: Tournament size S (default 5).
        n_mutations: Mutations per child (default 1).
        multi_objective: Tournament by Pareto rank on (accuracy, latency), ties by reward (default False).
        dedupe_tries: Re-mutations before a repeat child is accepted (default 50).
    """

    name = "evolution"
    supports_multi_objective = True
    settings_model = EvolutionSettings
    settings: EvolutionSettings

    def __init__(self, *args: Any, **kwargs: Any):
        """See :class:`BaseStrategy`."""
        super().__init__(*args, **kwargs)
        self.population_size = self.settings.population
        self.sample_size = min(self.settings.sample_size, self.population_size)
        self.n_mutations = self.settings.n_mutations
        # Members in age order: {"params", "reward", "accuracy", "latency_ms"}.
        self.population: list[dict[str, Any]] = []

    def _propose(self, n: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for _ in range(n):
            if (
                len(self.population) + len(self._pending) + len(out) < self.population_size
                or not self.population
            ):
                params = self.draw_unseen(lambda: self.space.sample(self.rng))
            else:
                parent = self._tournament()
                params = self.draw_unseen(
                    functools.partial(self.space.mutate, parent, self.rng, self.n_mutations),
                    fallback=lambda: self.space.sample(self.rng),
                )
            self._seen[self.key(params)] = "pending"
            out.append(params)
        return out

    def _tournament(self) -> dict[str, Any]:
        # Pending suggestions count towards the population quota, so fewer members than ``sample_size`` may
        # have been told yet (high concurrency, failed or rejected candidates): sample what there is.
        contestants = self.rng.sample(self.population, min(self.sample_size, len(self.population)))
        if self.multi_objective:
            points = [
                (m["accuracy"], m["latency_ms"] if m["latency_ms"] is not None else float("inf"))
                for m in contestants
            ]
            ranks = pareto_ranks(points)
            best = min(range(len(contestants)), key=lambda i: (ranks[i], -contestants[i]["reward"], i))
        else:
            best = max(range(len(contestants)), key=lambda i: (contestants[i]["reward"], -i))
        return dict(contestants[best]["params"])

    def _observe(self, suggestion_id: str, params: dict[str, Any], outcome: Outcome) -> None:
        if not outcome.usable:
            return
        reward = self.objectives.reward_of(outcome)
        self.population.append(
            {
                "params": params,
                "reward": reward,
                "accuracy": outcome.accuracy,
                "latency_ms": outcome.latency_ms,
            }
        )
        if len(self.population) > self.population_size:
            self.population.pop(0)

    def _extra_state(self) -> dict[str, Any]:
        return {"population": self.population}

    def _load_extra_state(self, extra: Mapping[str, Any]) -> None:
        self.population = [dict(m) for m in extra.get("population", [])]
