"""Latency-aware search: the acquisition, the front-extension rule, the latency oracles, the surrogate strategy."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from nas_service.strategies._acquisition import (
    GaussianProcess,
    could_extend_front,
    expected_hvi,
    front_of,
)
from nas_service.strategies._ranking import hypervolume
from nas_service.strategies.latency import CallableLatencyOracle, FittedLatencyOracle, LatencyOracle
from nas_service.strategies.surrogate import van_der_corput

FRONT = [(0.70, 1.0), (0.80, 2.0), (0.90, 4.0), (0.60, 3.0)]  # the last one is dominated
REFERENCE = (0.5, 5.0)


def test_front_extension_rule() -> None:
    front = front_of(FRONT)
    assert front == [(0.70, 1.0), (0.80, 2.0), (0.90, 4.0)]
    # Slower than (0.80, 2.0) and unable to beat 0.80: dominated whatever training gives.
    assert not could_extend_front(front, 2.5, 0.80)
    assert could_extend_front(front, 2.5, 0.85)  # could sit between the 2 ms and 4 ms points
    assert could_extend_front(front, 0.5, 0.55)  # faster than every front point: always extends
    assert not could_extend_front(front, 4.5, 0.90)


@pytest.mark.parametrize(
    ("latency", "mean", "std"), [(1.5, 0.82, 0.03), (3.0, 0.86, 0.05), (0.8, 0.6, 0.1), (4.5, 0.9, 0.0)]
)
def test_expected_hvi_matches_monte_carlo(latency: float, mean: float, std: float) -> None:
    base = hypervolume(FRONT, REFERENCE)
    rng = np.random.default_rng(0)
    samples = rng.normal(mean, std, 20_000) if std > 0 else np.asarray([mean])
    mc = float(np.mean([hypervolume([*FRONT, (float(a), latency)], REFERENCE) - base for a in samples]))
    exact = float(expected_hvi(FRONT, REFERENCE, np.asarray([latency]), np.asarray([mean]), np.asarray([std]))[0])
    assert exact == pytest.approx(mc, abs=2e-3 + 0.02 * mc)


def test_expected_hvi_is_zero_where_no_accuracy_could_help() -> None:
    # At the reference latency nothing counts; far below the front's accuracy with no spread, nothing either.
    score = expected_hvi(FRONT, REFERENCE, np.asarray([5.0, 2.5]), np.asarray([0.99, 0.6]), np.asarray([0.0, 0.0]))
    assert score.tolist() == [0.0, 0.0]


def test_gaussian_process_interpolates_and_is_unsure_far_away() -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(0, 2, size=(30, 6)).astype(float)
    y = x @ np.asarray([0.1, -0.05, 0.02, 0.0, 0.03, 0.01]) + 0.5
    gp = GaussianProcess().fit(x, y)
    mean, std = gp.predict(x[:5])
    assert np.allclose(mean, y[:5], atol=0.02)
    _, far = gp.predict(np.full((1, 6), 5.0))
    assert far[0] > std.max()


def test_fitted_oracle_learns_measured_latency(space: Any) -> None:
    oracle = FittedLatencyOracle()
    assert isinstance(oracle, LatencyOracle) and not oracle.calibrated
    rng = random.Random(0)
    archs = [space.decode(space.sample(rng)) for _ in range(40)]

    def truth(arch: Any) -> float:  # a latency that grows with blocks and MACs, as on a CPU
        from nas_service.strategies.latency import latency_features

        f = latency_features(arch)
        return 0.3 + 0.04 * f[3] + 0.2 * f[1]

    for arch in archs[:20]:
        oracle.observe(arch, truth(arch))
    assert oracle.calibrated
    errors = [abs(oracle.latency_ms(a) - truth(a)) / truth(a) for a in archs[20:]]
    assert max(errors) < 0.05


def test_callable_oracle_caches() -> None:
    calls: list[str] = []

    def measure(arch: Any) -> float:
        calls.append(arch.arch_hash())
        return 1.25

    from nas_service.arch.spec import Architecture

    arch = Architecture.from_block_strings([["ds_r1_k3_s1_c16"]], resolution=16, num_classes=10)
    oracle = CallableLatencyOracle(measure)
    assert oracle.latency_ms(arch) == oracle.latency_ms(arch) == 1.25 and len(calls) == 1


def test_van_der_corput_spreads() -> None:
    assert [van_der_corput(i) for i in range(3)] == [0.5, 0.25, 0.75]


def _hv_after(make: Any, h: Any, name: str, seed: int, budget: int, **settings: Any) -> float:
    done = h.run_loop(make(name, seed=seed, **settings), budget, batch=1)
    return hypervolume([(o.accuracy, o.latency_ms) for _, o in done], (0.5, 8.0))


def test_surrogate_beats_random_early_on_the_fake_space(make: Any, h: Any) -> None:
    seeds = range(3)
    sur = np.mean([_hv_after(make, h, "surrogate", s, 20) for s in seeds])
    rnd = np.mean([_hv_after(make, h, "random", s, 20) for s in seeds])
    assert sur > rnd, (sur, rnd)


def _true_latency_oracle(h: Any) -> CallableLatencyOracle:
    """The synthetic objective's latency, as an oracle over architectures (what measuring would return)."""
    import itertools

    space = h.FakeSpace()
    names = list(space.parameters())
    by_hash = {}
    for values in itertools.product(*space.parameters().values()):
        params = dict(zip(names, values, strict=True))
        by_hash[space.decode(params).arch_hash()] = h.synthetic(params)[1]
    return CallableLatencyOracle(lambda arch: by_hash[arch.arch_hash()])


def test_surrogate_never_asks_over_the_latency_cap(h: Any) -> None:
    from nas_service.jobspec import StrategyConfig
    from nas_service.strategies import make_strategy

    config = StrategyConfig.model_validate({"name": "surrogate", "settings": {"max_latency_ms": 2.5, "n_initial": 4}})
    strategy = make_strategy(config, h.FakeSpace(), h.REWARD, latency_oracle=_true_latency_oracle(h))
    done = h.run_loop(strategy, 24, batch=2)
    assert max(o.latency_ms for _, o in done) <= 2.5


@pytest.mark.parametrize("front_filter", [True, False])
def test_evolution_front_filter_skips_children_that_cannot_extend_the_front(h: Any, front_filter: bool) -> None:
    from nas_service.jobspec import StrategyConfig
    from nas_service.strategies import make_strategy

    oracle = _true_latency_oracle(h)
    settings = {"front_filter": front_filter, "front_margin": 0.0, "multi_objective": True}
    config = StrategyConfig.model_validate({"name": "evolution", "settings": settings})
    strategy = make_strategy(config, h.FakeSpace(), h.REWARD, latency_oracle=oracle)
    space = h.FakeSpace()
    rng = random.Random(0)
    by_latency = sorted((space.sample(rng) for _ in range(60)), key=lambda p: oracle.latency_ms(space.decode(p)))
    quick, middle, slow = by_latency[0], by_latency[30], by_latency[-1]
    # The front holds one network of middle latency at accuracy 0.9: a slower child of a 0.9-accurate parent
    # would be dominated by it (margin 0), a quicker one could extend the front.
    lat = oracle.latency_ms(space.decode(middle))
    strategy.population = [{"params": middle, "reward": 0.9, "accuracy": 0.9, "latency_ms": lat}]
    draws = iter([slow, quick])
    assert strategy._filtered(lambda: next(draws), 0.9) == (quick if front_filter else slow)


@pytest.mark.parametrize("name", ["mnas-rl", "nsga2", "evolution"])
def test_existing_strategies_sample_under_the_latency_cap(h: Any, name: str) -> None:
    from nas_service.jobspec import StrategyConfig
    from nas_service.strategies import make_strategy

    def over_share(settings: dict[str, Any]) -> float:
        config = StrategyConfig.model_validate({"name": name, "seed": 1, "settings": settings})
        strategy = make_strategy(config, h.FakeSpace(), h.REWARD, latency_oracle=_true_latency_oracle(h))
        done = h.run_loop(strategy, 30, batch=2)
        return sum(o.latency_ms > 3.0 for _, o in done) / len(done)

    capped = over_share({"max_latency_ms": 3.0})  # 95 of the 288 networks are under it
    assert capped <= 0.1 and capped < over_share({}), capped
