"""Regularized (aging) evolution (Real et al., 2019), optionally with a Pareto tournament."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field

from nas_service.jobspec import StrategyConfig
from nas_service.strategies._acquisition import could_extend_front, front_of
from nas_service.strategies._ranking import pareto_ranks
from nas_service.strategies._settings import StrategySettings
from nas_service.strategies.base import BaseStrategy, Objectives, Outcome, SearchSpaceLike, Told
from nas_service.strategies.latency import FittedLatencyOracle, LatencyOracle, observe_outcome, over_cap


class EvolutionSettings(StrategySettings):
    """Settings of :class:`EvolutionStrategy` (see its docstring)."""

    population: int = Field(20, ge=1, le=100_000)
    sample_size: int = Field(5, ge=1, le=100_000)
    n_mutations: int = Field(1, ge=1, le=64)
    multi_objective: bool = False
    front_filter: bool = False
    front_margin: float = Field(0.05, ge=0, le=1)
    max_latency_ms: float | None = Field(None, gt=0, le=1e6)
    filter_tries: int = Field(20, ge=1, le=10_000)


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
        front_filter: Latency-aware children (default False): a child whose latency (from the latency oracle,
            known before training) cannot extend the current front even at its parent's accuracy plus
            ``front_margin`` is not trained; another mutation is drawn (up to ``filter_tries``).
        front_margin: How much more accurate than its parent a child may plausibly be (default 0.05).
        max_latency_ms: The job's latency constraint: samples and children predicted slower are redrawn
            (up to ``filter_tries``), once the oracle is calibrated.
    """

    name = "evolution"
    supports_multi_objective = True
    settings_model = EvolutionSettings
    settings: EvolutionSettings

    def __init__(
        self,
        space: SearchSpaceLike,
        config: StrategyConfig,
        objectives: Objectives | None = None,
        *,
        latency_oracle: LatencyOracle | None = None,
    ):
        """See :class:`BaseStrategy`; ``latency_oracle`` (default: fitted online) serves the latency-aware
        settings."""
        super().__init__(space, config, objectives)
        self.oracle: LatencyOracle = latency_oracle if latency_oracle is not None else FittedLatencyOracle()
        self.population_size = self.settings.population
        self.sample_size = min(self.settings.sample_size, self.population_size)
        self.n_mutations = self.settings.n_mutations
        # Members in age order: {"suggestion_id", "params", "reward", "accuracy", "latency_ms"}.
        self.population: list[dict[str, Any]] = []
        self._member_ids: list[str] = []  # saved state: the members' suggestion ids (rebuilt from the trials)

    def _propose(self, n: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for _ in range(n):
            if (
                len(self.population) + len(self._pending) + len(out) < self.population_size
                or not self.population
            ):
                params = self.draw_unseen(lambda: self._filtered(lambda: self.space.sample(self.rng), None))
            else:
                winner = self._winner()
                parent, parent_acc = dict(winner["params"]), winner["accuracy"]
                mutate = functools.partial(self.space.mutate, parent, self.rng, self.n_mutations)
                params = self.draw_unseen(
                    lambda: self._filtered(mutate, parent_acc),  # noqa: B023 - called at once, in this iteration
                    fallback=lambda: self.space.sample(self.rng),
                )
            self._seen[self.key(params)] = "pending"
            out.append(params)
        return out

    def _filtered(self, draw: Any, parent_acc: float | None) -> dict[str, Any]:
        """A draw that passes the latency rules (the last draw when none does within ``filter_tries``)."""
        s = self.settings
        if not (s.front_filter or s.max_latency_ms is not None) or not self.oracle.calibrated:
            return dict(draw())
        front = front_of(
            [(m["accuracy"], m["latency_ms"]) for m in self.population if m["latency_ms"] is not None]
        )
        params: dict[str, Any] = {}
        for _ in range(s.filter_tries):
            params = dict(draw())
            if self.is_seen(params):
                continue
            arch = self._architecture(params)
            if over_cap(self.oracle, arch, s.max_latency_ms):
                continue
            lat = self.oracle.latency_ms(arch)
            if s.front_filter and parent_acc is not None and not could_extend_front(
                front, lat, parent_acc + s.front_margin
            ):
                continue
            return params
        return params

    def _tournament(self) -> dict[str, Any]:
        """The parameters of a tournament winner."""
        return dict(self._winner()["params"])

    def _winner(self) -> dict[str, Any]:
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
        return contestants[best]

    def _observe(self, suggestion_id: str, params: dict[str, Any], outcome: Outcome) -> None:
        observe_outcome(self.oracle, self._architecture(params), outcome)
        if not outcome.usable:
            return
        reward = self.objectives.reward_of(outcome)
        self.population.append(
            {
                "suggestion_id": suggestion_id,
                "params": params,
                "reward": reward,
                "accuracy": outcome.accuracy,
                "latency_ms": outcome.latency_ms,
            }
        )
        if len(self.population) > self.population_size:
            self.population.pop(0)

    def _extra_state(self) -> dict[str, Any]:
        return {"population": [m["suggestion_id"] for m in self.population]}

    def _load_extra_state(self, extra: Mapping[str, Any]) -> None:
        self._member_ids = [str(sid) for sid in extra.get("population", [])]

    def _rebuild(self, told: Sequence[Told]) -> None:
        by_id = {t.suggestion_id: t for t in told}
        self.population = []
        for sid in self._member_ids:
            t = by_id.get(sid)
            if t is None:  # its trial is gone (never happens while the job exists): the member ages out early
                continue
            self.population.append(
                {
                    "suggestion_id": sid,
                    "params": dict(t.params),
                    "reward": self.objectives.reward_of(t.outcome),
                    "accuracy": t.outcome.accuracy,
                    "latency_ms": t.outcome.latency_ms,
                }
            )
        # The fitted latency oracle is derived from the history the base class restored: replay it.
        for h in self.history:
            observe_outcome(self.oracle, self._architecture(h["params"]), Outcome.from_dict(h["outcome"]))
