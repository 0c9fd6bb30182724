"""The search views' computations against brute force and against a planted effect."""

from __future__ import annotations

import random

import pytest

from nas_service.insights import (
    ChoiceTrial,
    ResultCache,
    choice_importance,
    choice_table,
    search_history,
    varying_choices,
)
from nas_service.jobspec import RewardConfig
from nas_service.pareto import front_reference_latency, hypervolume_2d, pareto_front
from nas_service.reward import reward_from_config

CFG = RewardConfig(target_ms=2.0)


def test_history_is_brute_force_per_prefix_with_the_final_reference() -> None:
    rng = random.Random(5)
    n = 80
    states = ["completed" if i % 7 else "failed" for i in range(n)]
    accs = [round(rng.random(), 2) for _ in range(n)]
    lats = [round(0.2 + 5 * rng.random(), 1) for _ in range(n)]
    numbers = list(range(1, n + 1))
    rng.shuffle(numbers)  # any order in, number order out
    h = search_history(numbers, states, accs, lats, CFG)
    done = sorted((num, a, lat) for num, s, a, lat in zip(numbers, states, accs, lats, strict=True) if s == "completed")
    assert h["number"] == [d[0] for d in done]
    pts = [[a, lat] for _, a, lat in done]
    ref = front_reference_latency([pts[i][1] for i in pareto_front(pts)], CFG.target_ms)
    assert h["reference"] == {"accuracy": 0.0, "latency_ms": ref}
    for k in range(1, len(done) + 1):
        assert h["hypervolume"][k - 1] == pytest.approx(hypervolume_2d(pts[:k], (0.0, ref)))
        assert h["best_reward"][k - 1] == max(reward_from_config(a, lat, CFG) for a, lat in pts[:k])


def test_varying_choices_follow_the_declared_order_and_skip_constants() -> None:
    trials = [
        ChoiceTrial(1, 1, {"b": 5, "a": "x", "c": True, "z": 1.0}, 0.5, 1.0),
        ChoiceTrial(2, 2, {"b": 3, "a": "y", "c": True, "z": 2.0}, 0.6, 1.0),
    ]
    declared = {"a": ["y", "x", "w"], "b": [3, 5, 7], "c": [True, False]}
    assert varying_choices(trials, declared) == {"a": ["y", "x"], "b": [3, 5], "z": [1.0, 2.0]}
    table = choice_table(trials, CFG, declared)
    assert table["codes"] == {"a": [1, 0], "b": [1, 0], "z": [0, 1]}


@pytest.mark.parametrize("evaluator", ["ped-anova", "fanova"])
def test_importance_finds_the_choice_that_drives_the_reward(evaluator: str) -> None:
    rng = random.Random(1)
    trials = []
    for i in range(120):
        params = {"kernel": rng.choice([3, 5, 7]), "noise1": rng.choice(["a", "b"]), "noise2": rng.choice([1, 2, 3])}
        acc = 0.5 + 0.06 * params["kernel"] + rng.gauss(0, 0.005)
        trials.append(ChoiceTrial(i, i, params, min(acc, 1.0), 1.0))
    result = choice_importance(trials, CFG, evaluator)  # type: ignore[arg-type]
    assert result["n_trials"] == 120 and result["evaluator"] == evaluator
    assert result["importances"][0]["name"] == "kernel"
    assert result["importances"][0]["importance"] > 0.5
    assert choice_importance(trials[:1], CFG)["importances"] == []


def test_result_cache_evicts_the_least_recently_used() -> None:
    cache = ResultCache(size=2)
    cache.put(("a",), 1)
    cache.put(("b",), 2)
    assert cache.get(("a",)) == 1
    cache.put(("c",), 3)
    assert cache.get(("b",)) is None and cache.get(("a",)) == 1 and cache.get(("c",)) == 3
