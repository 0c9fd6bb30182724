"""Typed strategy settings: one pydantic model per strategy, registered with the strategy class.

Every model forbids unknown keys (a misspelt ``populaton`` is an error, not a silently ignored key), refuses
NaN and infinities, and is strict (``"5"`` is not an int, ``1`` is not a bool; an int is accepted where a float
is expected). The job spec checks a job's ``strategy.settings`` against the model of its strategy
(:func:`nas_service.jobspec.check_strategy_settings`), so the API answers 422 naming
``strategy.settings.<key>``, and the SDK and CLI, which validate with the same schema, say the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class StrategySettings(BaseModel):
    """Settings every strategy accepts.

    Attributes:
        dedupe_tries: Re-draws before a repeat candidate is accepted (``None``: the strategy's default,
            50, or 20 for the Optuna-backed ones).
        rejected_reward: Reward given to rejected (over the caps) candidates: the worst reward (default 0).
        min_trials_at_rung: Multi-fidelity grace: never stop a trial while fewer results are at its rung.
    """

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)

    dedupe_tries: int | None = Field(None, ge=1, le=10_000)
    rejected_reward: float = Field(0.0, ge=-1e6, le=1e6)
    min_trials_at_rung: int = Field(1, ge=1, le=1_000_000)


def parse_settings(model: type[StrategySettings], settings: Mapping[str, Any] | StrategySettings) -> Any:
    """``settings`` validated by ``model`` (a model instance of the right type is returned as it is).

    Raises:
        pydantic.ValidationError: An unknown key, a wrong type, a non-finite number or a value out of range.
    """
    if isinstance(settings, model):
        return settings
    if isinstance(settings, BaseModel):
        settings = settings.model_dump(exclude_unset=True)
    return model.model_validate(dict(settings))
