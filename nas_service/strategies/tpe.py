"""TPE on the scalar MnasNet reward, through Optuna's ``TPESampler`` (wrapped, not re-implemented)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from nas_service.strategies._optuna import OptunaStrategy
from nas_service.strategies._settings import StrategySettings
from nas_service.strategies.base import Outcome

if TYPE_CHECKING:
    import optuna


class TPESettings(StrategySettings):
    """Settings of :class:`TPEStrategy` (see its docstring)."""

    n_startup_trials: int = Field(10, ge=0, le=100_000)
    multivariate: bool = True
    constant_liar: bool = True
    rejected_as: Literal["penalty", "fail"] = "penalty"


class TPEStrategy(OptunaStrategy):
    """Tree-structured Parzen estimator maximising the MnasNet reward.

    Outcome mapping: completed (or duplicate with values) -> COMPLETE with the reward; pruned -> PRUNED;
    failed (or duplicate without values) -> FAIL; rejected -> COMPLETE with ``rejected_reward`` (the worst
    reward, default 0) so TPE learns to stay away from over-cap regions (a FAIL would be invisible to it); set
    ``rejected_as: "fail"`` for the FAIL mapping instead.

    Settings:
        n_startup_trials: Random trials before TPE kicks in (default 10).
        multivariate: Optuna's multivariate TPE (default True: decisions in a block interact).
        constant_liar: Treat in-flight trials as bad to spread parallel asks (default True).
        rejected_as: ``penalty`` (default) or ``fail``.
        dedupe_tries: Re-asks before a repeat is accepted (default 20).
    """

    name = "tpe"
    supports_multi_objective = False
    settings_model = TPESettings
    settings: TPESettings
    directions = ("maximize",)

    def _make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        import optuna

        return optuna.samplers.TPESampler(
            seed=seed,
            n_startup_trials=self.settings.n_startup_trials,
            multivariate=self.settings.multivariate,
            constant_liar=self.settings.constant_liar,
        )

    def _values(self, outcome: Outcome) -> tuple[str, list[float] | None]:
        if outcome.usable:
            reward = self.objectives.reward_of(outcome)
            return "COMPLETE", [float(reward if reward is not None else 0.0)]
        if outcome.state == "rejected" and self.settings.rejected_as == "penalty":
            return "COMPLETE", [float(self.objectives.rejected_reward)]
        if outcome.state == "pruned":
            return "PRUNED", None
        return "FAIL", None
