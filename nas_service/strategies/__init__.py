"""Search strategies behind one small interface (:class:`BaseStrategy`), a registry and the multi-fidelity
scheduler. Optuna and torch are imported lazily, inside the strategies that need them."""

from nas_service.strategies.base import (
    BaseStrategy,
    Objectives,
    Outcome,
    OutcomeState,
    Suggestion,
    mnasnet_reward,
)
from nas_service.strategies.evolution import EvolutionStrategy
from nas_service.strategies.grid import GridStrategy
from nas_service.strategies.mnas_rl import MnasRLStrategy
from nas_service.strategies.multifidelity import (
    ASHAScheduler,
    Decision,
    HyperbandScheduler,
    make_scheduler,
)
from nas_service.strategies.nsga2 import NSGA2Strategy
from nas_service.strategies.random import RandomStrategy
from nas_service.strategies.registry import STRATEGIES, make_strategy
from nas_service.strategies.scaling import CompoundScalingStrategy, alpha_beta_gamma_grid, resolve_base
from nas_service.strategies.tpe import TPEStrategy

__all__ = [
    "ASHAScheduler",
    "BaseStrategy",
    "CompoundScalingStrategy",
    "Decision",
    "EvolutionStrategy",
    "GridStrategy",
    "HyperbandScheduler",
    "MnasRLStrategy",
    "NSGA2Strategy",
    "Objectives",
    "Outcome",
    "OutcomeState",
    "RandomStrategy",
    "STRATEGIES",
    "Suggestion",
    "TPEStrategy",
    "alpha_beta_gamma_grid",
    "make_scheduler",
    "make_strategy",
    "mnasnet_reward",
    "resolve_base",
]
