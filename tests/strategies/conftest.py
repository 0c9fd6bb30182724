"""Fixtures for strategy tests: search spaces and cheap synthetic objectives (pure functions of the params).

``FakeSpace`` (288 networks, with a width/kernel/resolution trade-off) keeps the quality tests independent of
the presets' details; the contract tests also run on the real ``tiny`` preset.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from nas_service.arch.spec import Architecture
from nas_service.jobspec import RewardConfig, StrategyConfig
from nas_service.strategies import BaseStrategy, Outcome, make_strategy


class FakeSpace:
    """Two stages of MBConv choices plus the input resolution (288 points)."""

    _PARAMS: dict[str, list[Any]] = {
        "s0.op": ["ir", "ds"],
        "s0.kernel": [3, 5, 7],
        "s0.width": [16, 24, 32, 40],
        "s1.kernel": [3, 5],
        "s1.expansion": [3, 6],
        "resolution": [16, 24, 32],
    }

    def parameters(self) -> dict[str, list[Any]]:
        return {k: list(v) for k, v in self._PARAMS.items()}

    def canonicalize(self, params: dict[str, Any]) -> dict[str, Any]:
        return {k: params[k] for k in self._PARAMS}

    def decode(self, params: dict[str, Any]) -> Architecture:
        p = self.canonicalize(params)
        s0 = (
            f"{p['s0.op']}_r1_k{p['s0.kernel']}_s2"
            + ("_e3" if p["s0.op"] == "ir" else "")
            + f"_c{p['s0.width']}"
        )
        s1 = f"ir_r1_k{p['s1.kernel']}_s2_e{p['s1.expansion']}_c48"
        return Architecture.from_block_strings([[s0], [s1]], resolution=p["resolution"], num_classes=10)

    def encode(self, arch: Architecture) -> dict[str, Any]:
        raise NotImplementedError

    def sample(self, rng: random.Random | int) -> dict[str, Any]:
        r = rng if isinstance(rng, random.Random) else random.Random(rng)
        return {k: r.choice(v) for k, v in self._PARAMS.items()}

    def mutate(self, params: dict[str, Any], rng: random.Random, n_mutations: int = 1) -> dict[str, Any]:
        out = dict(params)
        for name in rng.sample(sorted(self._PARAMS), n_mutations):
            out[name] = rng.choice([c for c in self._PARAMS[name] if c != out[name]])
        return out

    def grid(self) -> Iterator[dict[str, Any]]:
        names = list(self._PARAMS)
        for combo in itertools.product(*(self._PARAMS[n] for n in names)):
            yield dict(zip(names, combo, strict=True))

    def cardinality(self) -> int:
        return math.prod(len(v) for v in self._PARAMS.values())

    def log10_cardinality(self) -> float:
        return math.log10(self.cardinality())

    def to_vector(self, params: dict[str, Any]) -> list[int]:
        return [v.index(params[k]) for k, v in self._PARAMS.items()]

    def from_vector(self, vector: list[int]) -> dict[str, Any]:
        return {k: v[i] for (k, v), i in zip(self._PARAMS.items(), vector, strict=True)}


def synthetic(params: dict[str, Any]) -> tuple[float, float]:
    """(accuracy, latency_ms) as pure functions of the params: wider/bigger kernels/higher resolution are more
    accurate but slower, with an interaction (kernel 5 is best at 24 px)."""
    w = params["s0.width"] / 40.0
    res = params["resolution"] / 32.0
    k0 = params["s0.kernel"]
    acc = 0.55 + 0.2 * w + 0.1 * res + (0.06 if k0 == 5 else 0.02 if k0 == 7 else 0.0)
    acc += 0.04 if params["s1.expansion"] == 6 else 0.0
    acc += 0.03 if params["s0.op"] == "ir" else 0.0
    acc -= 0.05 * abs(res - 0.75) * (k0 == 5)
    lat = 1.0 + 3.0 * w * res**2 + 0.4 * (k0 / 7) + (0.8 if params["s1.expansion"] == 6 else 0.3)
    lat += 0.5 if params["s0.op"] == "ir" else 0.0
    lat += 0.2 * params["s1.kernel"] / 5
    return min(acc, 1.0), lat


#: hard = (0, -1): a real accuracy/latency trade-off on the synthetic objective.
REWARD = RewardConfig.model_validate({"target_ms": 3.0, "preset": "hard"})


def vector_objective(space: Any) -> Callable[[dict[str, Any]], tuple[float, float]]:
    """A synthetic objective for any space with ``to_vector``: later choices of later decisions are more
    accurate and slower (a pure function of the canonical params)."""

    def objective(params: dict[str, Any]) -> tuple[float, float]:
        vec = space.to_vector(params)
        acc = 0.6 + 0.3 * sum((i + 1) * v for i, v in enumerate(vec)) / (1 + 3 * sum(range(len(vec) + 1)))
        return min(acc, 1.0), 1.0 + 0.5 * sum(vec) + 0.1 * vec[-1]

    return objective


def run_loop(
    strategy: BaseStrategy,
    budget: int,
    *,
    batch: int = 2,
    objective: Callable[[dict[str, Any]], tuple[float, float]] = synthetic,
    reject: Callable[[dict[str, Any]], bool] | None = None,
) -> list[tuple[dict[str, Any], Outcome]]:
    """Drive ask/tell ``budget`` times with asynchronous-ish batches (tells in reverse order)."""
    done: list[tuple[dict[str, Any], Outcome]] = []
    while len(done) < budget:
        suggestions = strategy.ask(min(batch, budget - len(done)))
        if not suggestions:
            break
        for s in reversed(suggestions):
            if reject is not None and reject(s.params):
                outcome = Outcome(state="rejected")
            else:
                acc, lat = objective(s.params)
                outcome = Outcome(state="completed", accuracy=acc, latency_ms=lat)
            strategy.tell(s.suggestion_id, outcome)
            done.append((s.params, outcome))
    return done


@pytest.fixture
def space() -> Any:
    return FakeSpace()


@pytest.fixture
def make() -> Callable[..., BaseStrategy]:
    def _make(name: str, seed: int = 0, space: Any = None, **settings: Any) -> BaseStrategy:
        return make_strategy(
            StrategyConfig.model_validate({"name": name, "seed": seed, "settings": settings}),
            space or FakeSpace(),
            REWARD,
        )

    return _make


@pytest.fixture
def h() -> Any:
    """Helpers as one namespace: ``h.run_loop``, ``h.synthetic``, ``h.REWARD``, ``h.FakeSpace``."""
    import types

    return types.SimpleNamespace(
        run_loop=run_loop,
        synthetic=synthetic,
        vector_objective=vector_objective,
        REWARD=REWARD,
        FakeSpace=FakeSpace,
    )
