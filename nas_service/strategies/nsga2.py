"""NSGA-II on (accuracy, latency), through Optuna's ``NSGAIISampler`` (wrapped, not re-implemented)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from nas_service.jobspec import StrategyConfig
from nas_service.strategies._optuna import OptunaStrategy
from nas_service.strategies._settings import StrategySettings
from nas_service.strategies.base import Objectives, Outcome, SearchSpaceLike
from nas_service.strategies.latency import FittedLatencyOracle, LatencyOracle, observe_outcome, over_cap

if TYPE_CHECKING:
    import optuna


class NSGA2Settings(StrategySettings):
    """Settings of :class:`NSGA2Strategy` (see its docstring)."""

    population_size: int = Field(20, ge=2, le=100_000)
    mutation_prob: float | None = Field(None, ge=0, le=1)
    crossover_prob: float = Field(0.9, ge=0, le=1)
    max_latency_ms: float | None = Field(None, gt=0, le=1e6)


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
        max_latency_ms: The job's latency constraint: a child the latency oracle puts over it is closed as
            FAIL at once (never trained) and the sampler asked again, like a repeat.
    """

    name = "nsga2"
    supports_multi_objective = True
    settings_model = NSGA2Settings
    settings: NSGA2Settings
    directions = ("maximize", "minimize")

    def __init__(
        self,
        space: SearchSpaceLike,
        config: StrategyConfig,
        objectives: Objectives | None = None,
        *,
        latency_oracle: LatencyOracle | None = None,
    ):
        """See :class:`BaseStrategy`; ``latency_oracle`` (default: fitted online) serves ``max_latency_ms``."""
        self.oracle: LatencyOracle = latency_oracle if latency_oracle is not None else FittedLatencyOracle()
        super().__init__(space, config, objectives)

    def _acceptable(self, params: dict[str, Any]) -> bool:
        return not over_cap(self.oracle, self._architecture(params), self.settings.max_latency_ms)

    def _observe(self, suggestion_id: str, params: dict[str, Any], outcome: Outcome) -> None:
        if self.settings.max_latency_ms is not None:
            observe_outcome(self.oracle, self._architecture(params), outcome)
        super()._observe(suggestion_id, params, outcome)

    def _load_extra_state(self, extra: Any) -> None:
        super()._load_extra_state(extra)
        if self.settings.max_latency_ms is not None:  # the fitted oracle is derived from the restored history
            for h in self.history:
                observe_outcome(self.oracle, self._architecture(h["params"]), Outcome.from_dict(h["outcome"]))

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
