"""Search quality on the synthetic objective, averaged over fixed seeds (deterministic, with margins)."""

from __future__ import annotations

import statistics
from typing import Any

import pytest

from nas_service.strategies import STRATEGIES, Objectives
from nas_service.strategies._ranking import hypervolume

SEEDS = range(4)
BUDGET = 40
TUNED = {
    "tpe": {"n_startup_trials": 8},
    "evolution": {"population": 10, "sample_size": 4},
    "mnas-rl": {},
}


def _best_reward(make: Any, h: Any, name: str, seed: int) -> float:
    objectives = Objectives(reward=h.REWARD)
    done = h.run_loop(make(name, seed=seed, **TUNED.get(name, {})), BUDGET, batch=2)
    return max(objectives.reward_of(o) or 0.0 for _, o in done)


def _mean_best(make: Any, h: Any, name: str) -> float:
    return statistics.mean(_best_reward(make, h, name, seed) for seed in SEEDS)


@pytest.mark.parametrize("name", [n for n in ("tpe", "evolution", "mnas-rl") if n in STRATEGIES])
def test_beats_random_mean_best_reward(name: str, make: Any, h: Any) -> None:
    baseline = _mean_best(make, h, "random")
    score = _mean_best(make, h, name)
    assert score >= baseline - 0.002, (name, score, baseline)


def test_nsga2_front_hypervolume_at_least_random(make: Any, h: Any) -> None:
    reference = (0.5, 8.0)

    def hv(name: str, seed: int) -> float:
        settings = {"population_size": 6} if name == "nsga2" else {}
        done = h.run_loop(make(name, seed=seed, **settings), 60, batch=2)
        return hypervolume([(o.accuracy, o.latency_ms) for _, o in done], reference)

    nsga = statistics.mean(hv("nsga2", s) for s in SEEDS)
    rand = statistics.mean(hv("random", s) for s in SEEDS)
    assert nsga >= rand * 1.01, (nsga, rand)
