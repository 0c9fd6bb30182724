"""NSGA-II on (accuracy, latency), through Optuna's ``NSGAIISampler`` (wrapped, not re-implemented)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nas_service.strategies._optuna import OptunaStrategy
from nas_service.strategies.base import Outcome

if TYPE_CHECKING:
    import optuna


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
    directions = ("maximize", "minimize")

    @property
    def multi_objective(self) -> bool:
        """Always True: NSGA-II is multi-objective by construction."""
        return True

    def _make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        import optuna

        mutation = self.settings.get("mutation_prob")
        return optuna.samplers.NSGAIISampler(
            seed=seed,
            population_size=int(self.settings.get("population_size", 20)),
            mutation_prob=float(mutation) if mutation is not None else None,
            crossover_prob=float(self.settings.get("crossover_prob", 0.9)),
        )

    def _values(self, outcome: Outcome) -> tuple[str, list[float] | None]:
        if outcome.usable and outcome.latency_ms is not None:
            return "COMPLETE", [float(outcome.accuracy or 0.0), float(outcome.latency_ms)]
        if outcome.state == "pruned":
            return "PRUNED", None
        return "FAIL", None
