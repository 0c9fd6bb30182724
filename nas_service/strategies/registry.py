"""Strategy registry: ``StrategyConfig.name`` -> class, and the factory the controller calls."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from nas_service.jobspec import NetAdaptConfig, RewardConfig, ScalingConfig, StrategyConfig
from nas_service.strategies._settings import StrategySettings, parse_settings
from nas_service.strategies.base import BaseStrategy, Objectives, SearchSpaceLike
from nas_service.strategies.evolution import EvolutionStrategy
from nas_service.strategies.grid import GridStrategy
from nas_service.strategies.mnas_rl import MnasRLStrategy
from nas_service.strategies.netadapt import NetAdaptStrategy
from nas_service.strategies.nsga2 import NSGA2Strategy
from nas_service.strategies.random import RandomStrategy
from nas_service.strategies.scaling import CompoundScalingStrategy
from nas_service.strategies.surrogate import SurrogateStrategy
from nas_service.strategies.tpe import TPEStrategy

#: Registered strategies by ``StrategyConfig.name``.
STRATEGIES: dict[str, type[BaseStrategy]] = {
    "random": RandomStrategy,
    "grid": GridStrategy,
    "tpe": TPEStrategy,
    "nsga2": NSGA2Strategy,
    "evolution": EvolutionStrategy,
    "mnas-rl": MnasRLStrategy,
    "compound-scaling": CompoundScalingStrategy,
    "surrogate": SurrogateStrategy,
    "netadapt": NetAdaptStrategy,
}


def settings_model(name: str) -> type[StrategySettings]:
    """The settings model of the strategy registered as ``name``.

    Raises:
        ValueError: Unknown name.
    """
    cls = STRATEGIES.get(name)
    if cls is None:
        raise ValueError(f"unknown strategy {name!r}; registered: {sorted(STRATEGIES)}")
    return cls.settings_model


def validate_settings(name: str, settings: Mapping[str, Any]) -> StrategySettings:
    """``settings`` checked against the model of strategy ``name`` (what the job spec calls).

    Raises:
        pydantic.ValidationError: An unknown key, a wrong type, a non-finite number or a value out of range;
            each error's ``loc`` is the key (``("populaton",)``).
        ValueError: Unknown strategy name.
    """
    return parse_settings(settings_model(name), settings)  # type: ignore[no-any-return]


def make_strategy(
    config: StrategyConfig,
    space: SearchSpaceLike | None,
    reward_config: RewardConfig | None = None,
    *,
    scaling: ScalingConfig | None = None,
    netadapt: tuple[NetAdaptConfig, Any, int | None] | None = None,
    **kwargs: Any,
) -> BaseStrategy:
    """Create the strategy a job asks for.

    Args:
        config: The job's strategy configuration.
        space: The search space (ignored by ``compound-scaling``, which may get ``None``).
        reward_config: The job's reward; defaults to the soft MnasNet reward.
        scaling: The job's scaling settings (``compound-scaling`` only; required there).
        netadapt: ``(settings, base Architecture, base trial id or None)`` of a ``netadapt`` job (required there).
        **kwargs: Extra keyword arguments for the strategy class (e.g. ``rejected_reward``). ``latency_oracle``
            (a :class:`~nas_service.strategies.latency.LatencyOracle`) goes to the latency-aware strategies
            (evolution, mnas-rl, nsga2, surrogate, netadapt) and is dropped for the others.

    Returns:
        A fresh strategy; call ``load_state_dict`` on it to resume.

    Raises:
        ValueError: Unknown name, a missing scaling config, or a refusal by the strategy (grid too large).
    """
    cls = STRATEGIES.get(config.name)
    if cls is None:
        raise ValueError(f"unknown strategy {config.name!r}; registered: {sorted(STRATEGIES)}")
    typed = validate_settings(config.name, config.settings)
    objectives = Objectives(
        reward=reward_config or RewardConfig.model_validate({}),
        rejected_reward=float(kwargs.pop("rejected_reward", typed.rejected_reward)),
    )
    if kwargs.get("latency_oracle") is None or "latency_oracle" not in inspect.signature(cls.__init__).parameters:
        kwargs.pop("latency_oracle", None)  # only the latency-aware strategies take one
    if config.name == "compound-scaling":
        if scaling is None:
            raise ValueError(
                "compound-scaling needs the job's ScalingConfig (make_strategy(..., scaling=...))"
            )
        return cls(space, config, objectives, scaling=scaling, **kwargs)  # type: ignore[arg-type,call-arg]
    if config.name == "netadapt":
        if netadapt is None:
            raise ValueError("netadapt needs the job's NetAdaptConfig and base (make_strategy(..., netadapt=...))")
        cfg, base, base_trial = netadapt
        return cls(space, config, objectives, netadapt=cfg, base=base, base_trial=base_trial, **kwargs)  # type: ignore[call-arg]
    if space is None:
        raise ValueError(f"strategy {config.name!r} needs a search space")
    return cls(space, config, objectives, **kwargs)  # type: ignore[call-arg]
