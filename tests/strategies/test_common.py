"""Contract tests every registered search strategy passes, on the fake space and the real ``tiny`` preset."""

from __future__ import annotations

import json
import types
from typing import Any

import pytest

from nas_service.jobspec import StrategyConfig
from nas_service.strategies import STRATEGIES, BaseStrategy, Outcome, make_strategy

SEARCH = ["random", "grid", "tpe", "nsga2", "evolution", "mnas-rl", "surrogate"]
SMALL: dict[str, dict[str, Any]] = {
    "evolution": {"population": 6, "sample_size": 3},
    "nsga2": {"population_size": 6},
    "tpe": {"n_startup_trials": 4},
    "grid": {"shuffle": True},
}


def _settings(name: str) -> dict[str, Any]:
    return dict(SMALL.get(name, {}))


@pytest.fixture(params=[n for n in SEARCH if n in STRATEGIES])
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=["fake", "tiny"])
def env(request: pytest.FixtureRequest, h: Any) -> Any:
    """The space under test, its objective and a rejection rule (a cap that excludes part of the space)."""
    if request.param == "fake":
        return types.SimpleNamespace(
            space=h.FakeSpace(), objective=h.synthetic, reject=lambda p: p["s0.width"] == 40
        )
    from nas_service.space import get_space

    space = get_space("tiny")
    return types.SimpleNamespace(
        space=space, objective=h.vector_objective(space), reject=lambda p: p["s0.op"] == "conv"
    )


def test_registry_flags(name: str) -> None:
    cls = STRATEGIES[name]
    assert cls.name == name
    assert isinstance(cls.supports_multi_objective, bool)
    assert isinstance(cls.supports_early_stopping, bool)


def test_seeded_reproducible(name: str, make: Any, h: Any, env: Any) -> None:
    def run(seed: int) -> list[dict[str, Any]]:
        strategy = make(name, seed=seed, space=env.space, **_settings(name))
        return [p for p, _ in h.run_loop(strategy, 24, batch=3, objective=env.objective)]

    first = run(7)
    assert first == run(7)
    assert first != run(8)


def test_asks_are_valid_params(name: str, make: Any, h: Any, env: Any) -> None:
    strategy = make(name, seed=1, space=env.space, **_settings(name))
    choices = env.space.parameters()
    for params, _ in h.run_loop(strategy, 20, batch=4, objective=env.objective):
        assert set(params) == set(choices)
        for k, v in params.items():
            assert v in choices[k], (k, v)
        env.space.decode(params)


def test_resume_from_json_state_continues_identically(name: str, make: Any, h: Any, env: Any) -> None:
    """Interrupt mid-run with suggestions still in flight, round-trip through JSON, and compare."""

    def fresh() -> BaseStrategy:
        return make(name, seed=3, space=env.space, **_settings(name))

    straight, interrupted = fresh(), fresh()
    first_a = h.run_loop(straight, 10, batch=2, objective=env.objective)
    assert first_a == h.run_loop(interrupted, 10, batch=2, objective=env.objective)
    in_flight_a = straight.ask(3)
    in_flight_b = interrupted.ask(3)
    blob = json.loads(json.dumps(interrupted.state_dict()))
    resumed = fresh()
    resumed.load_state_dict(blob, interrupted.told())
    assert sorted(resumed.pending) == sorted(s.suggestion_id for s in in_flight_b)
    for s_a, s_b in zip(in_flight_a, in_flight_b, strict=True):
        acc, lat = env.objective(s_a.params)
        straight.tell(s_a.suggestion_id, Outcome("completed", accuracy=acc, latency_ms=lat))
        resumed.tell(s_b.suggestion_id, Outcome("completed", accuracy=acc, latency_ms=lat))
    rest_a = h.run_loop(straight, 14, batch=3, objective=env.objective)
    rest_b = h.run_loop(resumed, 14, batch=3, objective=env.objective)
    assert [p for p, _ in rest_a] == [p for p, _ in rest_b]
    assert json.dumps(straight.state_dict(), sort_keys=True) == json.dumps(
        resumed.state_dict(), sort_keys=True
    )


def test_state_is_json_and_checked(name: str, make: Any, h: Any) -> None:
    strategy = make(name, seed=0, **_settings(name))
    h.run_loop(strategy, 5)
    text = json.dumps(strategy.state_dict())
    other = "random" if name != "random" else "evolution"
    with pytest.raises(ValueError):
        make(other).load_state_dict(json.loads(text))


def test_rejected_not_reproposed(name: str, make: Any, h: Any, env: Any) -> None:
    """Rejected params never come back while unseen alternatives exist."""
    strategy = make(name, seed=5, space=env.space, **_settings(name))
    budget = min(40, env.space.cardinality() - 4)
    done = h.run_loop(strategy, budget, batch=2, objective=env.objective, reject=env.reject)
    rejected = [strategy.key(p) for p, o in done if o.state == "rejected"]
    assert rejected, "the rule should reject something"
    assert len(rejected) == len(set(rejected)), "a rejected candidate was proposed again"


def test_tell_unknown_or_twice_raises(name: str, make: Any) -> None:
    strategy = make(name, **_settings(name))
    with pytest.raises(KeyError):
        strategy.tell("nope", Outcome("completed", accuracy=0.5, latency_ms=1.0))
    s = strategy.ask(1)[0]
    strategy.tell(s.suggestion_id, Outcome("failed"))
    with pytest.raises(KeyError):
        strategy.tell(s.suggestion_id, Outcome("failed"))


def test_bad_arguments(make: Any, space: Any) -> None:
    with pytest.raises(ValueError):
        make("random").ask(0)
    with pytest.raises(ValueError):
        Outcome("weird")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs a search space"):
        make_strategy(StrategyConfig.model_validate({"name": "tpe"}), None)
