"""NetAdapt: per-stage reductions and the loop that reaches a latency budget from a preset."""

from __future__ import annotations

import math

import pytest

from nas_service.arch.presets import mnasnet_a1
from nas_service.arch.profile import count_macs
from nas_service.arch.spec import Architecture
from nas_service.strategies.latency import FittedLatencyOracle
from nas_service.strategies.netadapt import KINDS, NetAdapt, reduce_stage


def _preset() -> Architecture:
    return mnasnet_a1(resolution=96, num_classes=10)


def _estimate(arch: Architecture) -> float:
    """The analytic latency estimate the default oracle starts from (blocks and MACs)."""
    return FittedLatencyOracle().latency_ms(arch)


def _accuracy(arch: Architecture, parent: Architecture) -> float:
    """A deterministic stand-in for 'fine-tune briefly, then validate': grows with log-MACs."""
    return 0.3 + 0.04 * math.log(count_macs(arch))


@pytest.mark.parametrize("kind", KINDS)
def test_each_reduction_makes_a_stage_cheaper(kind: str) -> None:
    arch = _preset()
    reduced = [reduce_stage(arch, s, kind) for s in range(len(arch.stages))]  # type: ignore[arg-type]
    assert any(r is not None for r in reduced)
    for r in reduced:
        if r is not None:
            assert count_macs(r) <= count_macs(arch) and _estimate(r) < _estimate(arch) + 1e-9


def test_reductions_stop_at_their_floor() -> None:
    arch = Architecture.from_block_strings([["ds_r1_k3_s1_c8"]], resolution=16, num_classes=10)
    assert reduce_stage(arch, 0, "expansion") is None  # no expansion in a ds block
    assert reduce_stage(arch, 0, "width") is None  # 8 channels is the floor
    assert reduce_stage(arch, 0, "repeats") is None  # the stage's only block
    assert reduce_stage(arch, 0, "kernel") is None  # 3x3 is the smallest odd kernel kept


def test_netadapt_reaches_the_budget_from_a_preset() -> None:
    arch = _preset()
    start = _estimate(arch)
    budget = 0.6 * start
    loop = NetAdapt(arch, budget, _estimate, _accuracy, initial_accuracy=_accuracy(arch, arch))
    final = loop.run()
    assert _estimate(final) <= budget and loop.done
    assert len(loop.steps) >= 3  # several small steps, not one big cut
    latencies = [start] + [s.chosen.latency_ms for s in loop.steps]
    assert all(b < a for a, b in zip(latencies, latencies[1:], strict=False))
    for step, before in zip(loop.steps, latencies, strict=False):
        # Every proposal meets the step's target and was fine-tuned; the target is below the step's start.
        assert step.proposals and all(p.latency_ms <= step.target_ms for p in step.proposals)
        assert all(p.accuracy is not None for p in step.proposals) and step.target_ms < before
    assert loop.steps[-1].target_ms == pytest.approx(budget) or loop.steps[-1].chosen.latency_ms <= budget


def test_netadapt_keeps_the_best_accuracy_per_latency_saved() -> None:
    arch = _preset()
    base = _accuracy(arch, arch)
    loop = NetAdapt(arch, 0.9 * _estimate(arch), _estimate, _accuracy, initial_accuracy=base)
    step = loop.step()
    assert step is not None

    def ratio(p: object) -> float:
        return (p.accuracy - base) / (_estimate(arch) - p.latency_ms)  # type: ignore[attr-defined]

    assert ratio(step.chosen) == max(ratio(p) for p in step.proposals)


def test_netadapt_says_when_the_budget_is_out_of_reach() -> None:
    arch = Architecture.from_block_strings([["ds_r1_k3_s1_c8"]], resolution=16, num_classes=10)
    with pytest.raises(RuntimeError, match="stuck"):
        NetAdapt(arch, 1e-6, _estimate, _accuracy).run()
