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
from nas_service.strategies.latency import CallableLatencyOracle, FittedLatencyOracle, LatencyOracle
from nas_service.strategies.mnas_rl import MnasRLStrategy
from nas_service.strategies.multifidelity import (
    ASHAScheduler,
    Decision,
    HyperbandScheduler,
    make_scheduler,
)
from nas_service.strategies.netadapt import NetAdapt, NetAdaptStep
from nas_service.strategies.nsga2 import NSGA2Strategy
from nas_service.strategies.random import RandomStrategy
from nas_service.strategies.registry import STRATEGIES, make_strategy
from nas_service.strategies.scaling import CompoundScalingStrategy, alpha_beta_gamma_grid, resolve_base
from nas_service.strategies.surrogate import SurrogateStrategy
from nas_service.strategies.tpe import TPEStrategy

__all__ = [
    "ASHAScheduler",
    "BaseStrategy",
    "CallableLatencyOracle",
    "CompoundScalingStrategy",
    "Decision",
    "EvolutionStrategy",
    "FittedLatencyOracle",
    "GridStrategy",
    "HyperbandScheduler",
    "LatencyOracle",
    "MnasRLStrategy",
    "NSGA2Strategy",
    "NetAdapt",
    "NetAdaptStep",
    "Objectives",
    "Outcome",
    "OutcomeState",
    "RandomStrategy",
    "STRATEGIES",
    "Suggestion",
    "SurrogateStrategy",
    "TPEStrategy",
    "alpha_beta_gamma_grid",
    "make_scheduler",
    "make_strategy",
    "mnasnet_reward",
    "resolve_base",
]
