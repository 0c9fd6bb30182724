"""NSGA-II on (accuracy, latency), through Optuna's ``NSGAIISampler`` (wrapped, not re-implemented)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from nas_service.strategies._optuna import OptunaStrategy
from nas_service.strategies._settings import StrategySettings
from nas_service.strategies.base import Outcome

if TYPE_CHECKING:
    import optuna


class NSGA2Settings(StrategySettings):
    """Settings of :class:`NSGA2Strategy` (see its docstring)."""

    population_size: int = Field(20, ge=2, le=100_000)
    mutation_prob: float | None = Field(None, ge=0, le=1)
    crossover_prob: float = Field(0.9, ge=0, le=1)


class NSGA2Strategy(OptunaStrategy):
    """Multi-objective genetic search: maximise accuracy, minimise latency.

    Outcome mapping: completed (or duplicate with values and a latency) -> COMPLETE with (accuracy, latency);
    pruned -> PRUNED; failed, rejected and value-less duplicates -> FAIL. Only COMPLETE trials form NSGA-II's
    populations and the Pareto front, so partial results of early-stopped trials never pollute it.

    Settings:
        population_size: NSGA-II population (default 20).
        mutation_prob: Per-parameter mutation probability (default Optuna's 1/n_params).
        crossover_prob: Crossover probability (default 0.9).
        dedupe_tries: Re-asks before a repeat is accepted (default 20).
    """

    name = "nsga2"
    supports_multi_objective = True
    settings_model = NSGA2Settings
    settings: NSGA2Settings
    directions = ("maximize", "minimize")

    @property
    def multi_objective(self) -> bool:
        """Always True: NSGA-II is multi-objective by construction."""
        return True

    def _make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        import optuna

        return optuna.samplers.NSGAIISampler(
            seed=seed,
            population_size=self.settings.population_size,
            mutation_prob=self.settings.mutation_prob,
            crossover_prob=self.settings.crossover_prob,
        )

    def _values(self, outcome: Outcome) -> tuple[str, list[float] | None]:
        if outcome.usable and outcome.latency_ms is not None:
            return "COMPLETE", [float(outcome.accuracy or 0.0), float(outcome.latency_ms)]
        if outcome.state == "pruned":
            return "PRUNED", None
        return "FAIL", None
