"""Grid and random specifics."""

from __future__ import annotations

from typing import Any

import pytest

from nas_service.jobspec import StrategyConfig
from nas_service.strategies import GridStrategy, Outcome


def test_grid_refuses_large_space_with_cardinality(space: Any) -> None:
    with pytest.raises(ValueError, match=r"288") as err:
        GridStrategy(space, StrategyConfig.model_validate({"name": "grid", "settings": {"max_grid": 100}}))
    assert "max_grid" in str(err.value)


def test_grid_visits_every_point_once_then_exhausts(make: Any, space: Any) -> None:
    strategy = make("grid")
    seen = []
    while not strategy.is_exhausted():
        batch = strategy.ask(50)
        seen += [s.params for s in batch]
        for s in batch:
            strategy.tell(s.suggestion_id, Outcome("failed"))
    assert len(seen) == space.cardinality()
    assert len({tuple(sorted(p.items())) for p in seen}) == len(seen)
    assert strategy.ask(5) == []


def test_random_dedupes_within_small_space(make: Any, space: Any, h: Any) -> None:
    done = h.run_loop(make("random", seed=2), 100, batch=5)
    keys = {tuple(sorted(p.items())) for p, _ in done}
    assert len(keys) == 100


def test_suggestion_carries_decoded_architecture(make: Any, space: Any) -> None:
    s = make("random").ask(1)[0]
    assert s.architecture == space.decode(s.params)
    assert s.suggestion_id.startswith("random-")


def test_outcome_from_trial_result() -> None:
    from nas_service.jobspec import LatencyMeasurement, TrialResult, TrialState

    lat = LatencyMeasurement.model_validate(
        {"device": "cpu", "median_ms": 2.5, "p90_ms": 3.0, "mean_ms": 2.6, "samples": 5}
    )
    result = TrialResult.model_validate(
        {
            "state": TrialState.COMPLETED,
            "accuracy": 0.9,
            "latency": lat,
            "params": 10,
            "macs": 20,
            "epochs_run": 3,
        }
    )
    o = Outcome.from_trial_result(result, reward=0.88)
    assert (o.state, o.accuracy, o.latency_ms, o.reward, o.params, o.macs, o.epochs) == (
        "completed",
        0.9,
        2.5,
        0.88,
        10,
        20,
        3,
    )
    assert Outcome.from_trial_result(TrialResult.model_validate({"state": "rejected"})).state == "rejected"
    with pytest.raises(ValueError, match="pending"):
        Outcome.from_trial_result(TrialResult.model_validate({"state": "stale"}))
