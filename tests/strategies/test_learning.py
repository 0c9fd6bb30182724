"""Strategy-specific behaviour: evolution, the RL controller, the Optuna outcome mappings."""

from __future__ import annotations

from typing import Any

import optuna

from nas_service.strategies import (
    EvolutionStrategy,
    MnasRLStrategy,
    NSGA2Strategy,
    Outcome,
    TPEStrategy,
)


def test_evolution_rejected_never_becomes_a_parent(make: Any, h: Any) -> None:
    strategy = make("evolution", seed=0, population=5, sample_size=2)
    assert isinstance(strategy, EvolutionStrategy)
    h.run_loop(strategy, 40, reject=lambda p: p["s0.width"] == 40)
    assert strategy.population and all(m["params"]["s0.width"] != 40 for m in strategy.population)
    assert len(strategy.population) == 5


def test_evolution_multi_objective_tournament_prefers_the_front(make: Any, space: Any) -> None:
    strategy = make("evolution", seed=0, population=3, sample_size=3, multi_objective=True)
    assert isinstance(strategy, EvolutionStrategy) and strategy.multi_objective
    points = [(0.9, 1.0), (0.8, 2.0), (0.95, 3.0)]  # (0.8, 2.0) is dominated; best reward is 0.95's
    for acc, lat in points:
        s = strategy.ask(1)[0]
        strategy.tell(s.suggestion_id, Outcome("completed", accuracy=acc, latency_ms=lat, reward=acc))
    parent = strategy._tournament()
    assert parent == strategy.population[2]["params"]  # on the front and the best reward among front members


def test_rl_policy_moves_towards_rewarded_choices(make: Any, h: Any) -> None:
    strategy = make("mnas-rl", seed=0, lr=0.5)
    assert isinstance(strategy, MnasRLStrategy)
    before = strategy.probabilities()["s0.width"][-1]
    h.run_loop(strategy, 40)
    after = strategy.probabilities()
    # Under the hard reward (target 3 ms) the fastest resolution wins: its probability must have grown.
    assert after["resolution"][0] > 1 / 3
    assert abs(sum(after["s0.width"]) - 1) < 1e-9 and before == 0.25


def test_rl_rejected_gets_the_penalty(make: Any) -> None:
    strategy = make("mnas-rl", seed=0, penalty_reward=-1.0)
    s1, s2 = strategy.ask(2)
    strategy.tell(s1.suggestion_id, Outcome("completed", accuracy=0.9, latency_ms=1.0))
    logits_before = {k: list(v) for k, v in strategy.logits.items()}
    strategy.tell(s2.suggestion_id, Outcome("rejected"))
    name = next(k for k in strategy.logits if s2.params[k] != s1.params[k])
    idx = strategy._choices[name].index(s2.params[name])
    assert strategy.logits[name][idx] < logits_before[name][idx]
    s3 = strategy.ask(1)[0]
    strategy.tell(s3.suggestion_id, Outcome("pruned", accuracy=0.1))  # no update for pruned
    assert strategy.updates == 2


def test_nsga2_pareto_front_excludes_pruned_failed_rejected(make: Any) -> None:
    strategy = make("nsga2", seed=0, population_size=4)
    assert isinstance(strategy, NSGA2Strategy) and strategy.multi_objective
    states = ["completed", "pruned", "failed", "rejected", "completed", "duplicate"]
    for state, s in zip(states, strategy.ask(len(states)), strict=True):
        if state == "completed":
            strategy.tell(s.suggestion_id, Outcome("completed", accuracy=0.5, latency_ms=2.0))
        else:  # excellent partial values that must not reach the front
            strategy.tell(s.suggestion_id, Outcome(state, accuracy=None if state == "duplicate" else 0.99))  # type: ignore[arg-type]
    by_state = [t.state for t in strategy.study.trials]
    assert by_state.count(optuna.trial.TrialState.COMPLETE) == 2
    assert optuna.trial.TrialState.PRUNED in by_state and optuna.trial.TrialState.FAIL in by_state
    assert all(t.values == [0.5, 2.0] for t in strategy.study.best_trials)


def test_tpe_maps_rejected_to_the_penalty_or_fail(make: Any) -> None:
    for mode, expected in (
        ("penalty", optuna.trial.TrialState.COMPLETE),
        ("fail", optuna.trial.TrialState.FAIL),
    ):
        strategy = make("tpe", seed=0, rejected_as=mode)
        assert isinstance(strategy, TPEStrategy)
        s = strategy.ask(1)[0]
        strategy.tell(s.suggestion_id, Outcome("rejected"))
        trial = strategy.study.trials[-1]
        assert trial.state == expected
        if mode == "penalty":
            assert trial.values == [0.0]


def test_duplicate_with_cached_values_counts_as_a_result(make: Any) -> None:
    strategy = make("tpe", seed=0)
    s = strategy.ask(1)[0]
    strategy.tell(s.suggestion_id, Outcome("duplicate", accuracy=0.8, latency_ms=1.0, reward=0.8))
    assert strategy.study.trials[-1].values == [0.8]
