"""The architecture hash names the network as built, and the scaling table says what each candidate costs.

The case that motivated it: in ``examples/job-scaling.yaml`` two step-1 grid points, (alpha, beta, gamma) =
(1.4, 1, 1.2) and (2, 1, 1), build the same network at 16 px (one repeat rounds up to two either way, 16 * 1.2
rounds back to 16 px) and were trained twice under different hashes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from nas_service.arch.profile import count_macs
from nas_service.arch.spec import Architecture
from nas_service.jobspec import JobSpec
from nas_service.strategies import Outcome, make_strategy, resolve_base
from nas_service.strategies.scaling import scaling_report

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "job-scaling.yaml"


def _example_spec() -> JobSpec:
    doc: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    doc.pop("space", None)
    return JobSpec.model_validate(doc)


def _planner(spec: JobSpec) -> Any:
    assert spec.scaling is not None
    base = resolve_base(spec.scaling.base, {"resolution": spec.proxy.resolution})  # as the dispatcher does
    cfg = spec.strategy.model_copy(update={"name": "compound-scaling"})
    return make_strategy(cfg, None, spec.reward, scaling=spec.scaling.model_copy(update={"base": base}))


def test_the_scaling_examples_grid_points_that_build_one_network_share_a_hash() -> None:
    suggestions = _planner(_example_spec()).ask(100)
    by_params = {(s.params["alpha"], s.params["beta"], s.params["gamma"]): s.architecture for s in suggestions}
    same_a, same_b = by_params[(1.4, 1.0, 1.2)], by_params[(2.0, 1.0, 1.0)]
    assert same_a.canonical_json() != same_b.canonical_json()  # different descriptions ...
    assert same_a.arch_hash() == same_b.arch_hash()  # ... one network
    hashes = {s.architecture.arch_hash() for s in suggestions}
    assert len(hashes) == len(suggestions) - 1  # every other grid point is a network of its own


def test_the_hash_ignores_the_name_and_follows_every_built_difference() -> None:
    arch = Architecture.from_block_strings([["ds_r1_k3_s1_c16"], ["ir_r2_k3_s2_e6_c24_se0.25"]], resolution=32)
    assert arch.model_copy(update={"name": "x"}).arch_hash() == arch.arch_hash()
    for change in ({"resolution": 24}, {"num_classes": 10}, {"width_multiplier": 1.5}, {"dropout": 0.3}):
        assert arch.model_copy(update=change).arch_hash() != arch.arch_hash(), change
    # A depth multiplier that builds the same repeats (ceil(2 * 1.1) = 3 = ceil(2 * 1.4)) is the same network.
    assert (
        arch.model_copy(update={"depth_multiplier": 1.1}).arch_hash()
        == arch.model_copy(update={"depth_multiplier": 1.4}).arch_hash()
    )


def test_the_scaling_table_states_each_candidates_actual_cost_ratio() -> None:
    spec = _example_spec()
    planner = _planner(spec)
    for s in planner.ask(100):
        planner.tell(s.suggestion_id, Outcome("completed", accuracy=0.9, latency_ms=1.0))
    report = scaling_report(spec, {"strategy": planner.state_dict()}, planner.told())
    rows = {(r["alpha"], r["beta"], r["gamma"], r["phi"]): r for r in report["grid"]}
    base = rows[(1.0, 1.0, 1.0, 0)]
    assert base["macs_ratio"] == 1.0 and base["params_ratio"] == 1.0 and base["flops_planned"] == 1.0
    deep = rows[(2.0, 1.0, 1.0, 1)]
    assert deep["flops_planned"] == 2.0
    # The ratio is that of the networks as trained on digits (10 classes, 1 channel), counted here independently.
    assert spec.scaling is not None
    trained = {"num_classes": 10, "in_channels": 1}
    base_arch = resolve_base(spec.scaling.base, {"resolution": 16, **trained})
    deep_arch = planner._architecture(deep).model_copy(update=trained)
    assert deep["macs_ratio"] == round(count_macs(deep_arch) / count_macs(base_arch), 4)
    assert deep["macs_ratio"] < 1.6  # far from the 2x the coefficients promise at 16 px: the table says so
    assert all(r["macs_ratio"] is not None and r["params_ratio"] is not None for r in report["grid"])
