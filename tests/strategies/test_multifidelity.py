"""ASHA / Hyperband early stopping."""

from __future__ import annotations

import json
import random

import pytest

from nas_service.jobspec import StrategyConfig
from nas_service.strategies import Objectives
from nas_service.strategies.multifidelity import (
    ASHAScheduler,
    HyperbandScheduler,
    make_scheduler,
    rung_epochs,
)


def test_rungs() -> None:
    assert rung_epochs(1, 3, 27) == [1, 3, 9]
    assert rung_epochs(1, 3, 28) == [1, 3, 9, 27]
    assert rung_epochs(2, 2, 9) == [2, 4, 8]
    assert rung_epochs(5, 3, 5) == []


def _random_curves(scheduler: ASHAScheduler | HyperbandScheduler, n: int, max_epochs: int, seed: int) -> dict:
    """Feed ``n`` trials with noisy increasing curves, one after another; return stop epoch per trial."""
    rng = random.Random(seed)
    stopped_at: dict[str, int | None] = {}
    for t in range(n):
        key = f"t{t}"
        quality = rng.random()
        stopped_at[key] = None
        for epoch in range(1, max_epochs + 1):
            acc = quality * (1 - 0.5**epoch) + rng.gauss(0, 0.01)
            if scheduler.on_epoch(key, epoch, min(max(acc, 0.0), 1.0), latency_ms=1.0 + rng.random()).stop:
                stopped_at[key] = epoch
                break
    return stopped_at


@pytest.mark.parametrize("eta", [2, 3, 4])
def test_asha_prunes_about_one_minus_one_over_eta_at_first_rung(eta: int) -> None:
    scheduler = ASHAScheduler(max_epochs=eta**2 + 1, min_epochs=1, reduction_factor=eta)
    stopped = _random_curves(scheduler, 300, eta**2 + 1, seed=eta)
    frac = sum(1 for e in stopped.values() if e == 1) / len(stopped)
    assert abs(frac - (1 - 1 / eta)) < 0.08, frac
    assert scheduler.rung_sizes()[0] == 300
    # Stopped trials are asked about again: still stop.
    first = next(k for k, e in stopped.items() if e == 1)
    assert scheduler.on_epoch(first, 2, 1.0).stop


def test_asha_never_stops_a_trial_at_max_epochs_and_between_rungs() -> None:
    scheduler = ASHAScheduler(max_epochs=4, min_epochs=1, reduction_factor=2)  # rungs at 1, 2
    scheduler.on_epoch("good", 1, 0.9)
    d = scheduler.on_epoch("bad", 1, 0.1)
    assert d.stop and d.rung == 0 and "rank 2 of 2" in d.reason
    scheduler.on_epoch("good", 2, 0.92)
    assert scheduler.on_epoch("good", 3, 0.2).action == "continue"
    assert scheduler.on_epoch("good", 4, 0.2).action == "continue"


def test_single_objective_ranks_by_reward_not_accuracy() -> None:
    objectives = Objectives(
        reward=Objectives().reward.model_copy(update={"target_ms": 1.0, "alpha": 0.0, "beta": -1.0})
    )
    scheduler = ASHAScheduler(max_epochs=9, reduction_factor=2, objectives=objectives)
    scheduler.on_epoch("fast", 1, 0.6, latency_ms=1.0)  # reward 0.6
    assert scheduler.on_epoch("slow", 1, 0.9, latency_ms=3.0).stop  # reward 0.3


def test_multi_objective_keeps_non_dominated_trials() -> None:
    scheduler = ASHAScheduler(max_epochs=9, reduction_factor=3, multi_objective=True)
    front = {"a": (0.9, 5.0), "b": (0.8, 3.0), "c": (0.7, 2.0), "d": (0.6, 1.0)}
    for key, (acc, lat) in front.items():
        assert not scheduler.on_epoch(key, 1, acc, lat).stop, key
    # Dominated points (each worse than some front point in both) mostly stop; the front itself all went on.
    dominated = {"e": (0.5, 6.0), "f": (0.55, 4.0), "g": (0.65, 3.5), "h": (0.3, 9.0), "i": (0.4, 2.5)}
    stops = [scheduler.on_epoch(k, 1, acc, lat).stop for k, (acc, lat) in dominated.items()]
    assert all(stops)
    # A new non-dominated point continues even though the rung is crowded.
    assert not scheduler.on_epoch("j", 1, 0.95, 8.0).stop


def test_multi_objective_uses_hypervolume_contribution_within_a_front() -> None:
    scheduler = ASHAScheduler(max_epochs=9, reduction_factor=2, multi_objective=True, min_trials_at_rung=1)
    rung = {"x": (0.9, 2.0), "y": (0.5, 1.9), "z": (0.2, 9.0)}
    positions = {key: scheduler._pareto_position(rung, key) for key in rung}
    assert positions == {"x": (0, True), "y": (1, True), "z": (2, False)}


def test_state_round_trip_continues_identically() -> None:
    a = ASHAScheduler(max_epochs=10, reduction_factor=3)
    _random_curves(a, 40, 10, seed=1)
    b = ASHAScheduler(max_epochs=10, reduction_factor=3)
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))
    assert _random_curves(a, 30, 10, seed=2) == _random_curves(b, 30, 10, seed=2)
    with pytest.raises(ValueError):
        ASHAScheduler(max_epochs=30, reduction_factor=3).load_state_dict(a.state_dict())


def test_hyperband_brackets_and_state() -> None:
    hb = HyperbandScheduler(max_epochs=9, min_epochs=1, reduction_factor=3)
    assert hb.s_max == 2
    assert [b.rungs for b in hb.brackets] == [[1, 3], [3], []]
    stopped = _random_curves(hb, 60, 9, seed=3)
    counts = [list(hb._assignment.values()).count(s) for s in range(3)]
    assert counts[0] > counts[1] > counts[2] > 0
    assert all(stopped[k] is None for k, s in hb._assignment.items() if s == 2)
    copy = HyperbandScheduler(max_epochs=9, min_epochs=1, reduction_factor=3)
    copy.load_state_dict(json.loads(json.dumps(hb.state_dict())))
    assert _random_curves(hb, 20, 9, seed=4) == _random_curves(copy, 20, 9, seed=4)


def test_make_scheduler() -> None:
    cfg = StrategyConfig.model_validate({"multi_fidelity": "none"})
    assert make_scheduler(cfg, 9) is None
    asha = make_scheduler(StrategyConfig.model_validate({"multi_fidelity": "asha", "min_epochs": 2}), 9)
    assert isinstance(asha, ASHAScheduler) and asha.rungs == [2, 6]
    hb = make_scheduler(StrategyConfig.model_validate({"multi_fidelity": "hyperband"}), 9)
    assert isinstance(hb, HyperbandScheduler)


def _reference_decision(history: list[tuple[float, float | None]], eta: int, objectives: Objectives) -> bool:
    """The rule written out naively: rank the newest result among all at the rung (ties by arrival)."""
    scores = [acc if lat is None else objectives.reward_from(acc, lat) for acc, lat in history]
    newest = len(scores) - 1
    position = sum(1 for i, s in enumerate(scores) if (-s, i) < (-scores[newest], newest))
    return position >= max(1, len(scores) // eta)


@pytest.mark.parametrize("eta", [2, 3, 4])
def test_sorted_single_objective_rung_matches_the_naive_ranking(eta: int) -> None:
    rng = random.Random(eta)
    objectives = Objectives()
    scheduler = ASHAScheduler(max_epochs=eta + 1, reduction_factor=eta, objectives=objectives)
    history: list[tuple[float, float | None]] = []
    for t in range(400):
        # Few distinct values, so ties (broken by arrival order) are frequent; some reports lack a latency.
        acc = rng.choice([0.5, 0.6, 0.7, 0.8])
        lat = None if t % 7 == 0 else rng.choice([1.0, 2.0, 5.0])
        history.append((acc, lat))
        stop = scheduler.on_epoch(f"t{t}", 1, acc, lat).stop
        assert stop == _reference_decision(history, eta, objectives), t
        if t == 200:  # a restart half-way keeps the ranking
            state = json.loads(json.dumps(scheduler.state_dict()))
            scheduler = ASHAScheduler(max_epochs=eta + 1, reduction_factor=eta, objectives=objectives)
            scheduler.load_state_dict(state)


def _naive_pareto_position(rung: dict[str, tuple[float, float]], key: str) -> tuple[int, bool]:
    """The multi-objective order written out over every front (the definition the scheduler keeps)."""
    from nas_service.strategies._ranking import hypervolume_contributions, pareto_ranks

    keys = list(rung)
    points = [rung[k] for k in keys]
    ranks = pareto_ranks(points)
    worst = max(lat for _, lat in points)
    reference = (min(0.0, min(a for a, _ in points)), worst * 1.1 + 1e-9)
    contribution = [0.0] * len(keys)
    for r in set(ranks):
        members = [i for i in range(len(keys)) if ranks[i] == r]
        for i, c in zip(members, hypervolume_contributions([points[i] for i in members], reference), strict=True):
            contribution[i] = c
    order = sorted(range(len(keys)), key=lambda i: (ranks[i], -contribution[i], i))
    me = keys.index(key)
    return order.index(me), ranks[me] == 0


def test_multi_objective_position_matches_the_full_ordering() -> None:
    rng = random.Random(7)
    scheduler = ASHAScheduler(max_epochs=9, reduction_factor=3, multi_objective=True)
    rung = {f"t{i}": (round(rng.random(), 2), round(1 + 4 * rng.random(), 1)) for i in range(120)}
    for key in rung:
        assert scheduler._pareto_position(rung, key) == _naive_pareto_position(rung, key), key
