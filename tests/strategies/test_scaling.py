"""Compound-scaling planner."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nas_service.jobspec import RewardConfig, ScalingConfig, StrategyConfig
from nas_service.strategies import CompoundScalingStrategy, Outcome, alpha_beta_gamma_grid, make_strategy

BASE = [["ds_r1_k3_s1_c16"], ["ir_r2_k3_s2_e6_c24"], ["ir_r2_k5_s2_e6_c40"]]


@pytest.mark.parametrize(("target", "tol", "step"), [(2.0, 0.1, 0.05), (2.0, 0.05, 0.1), (3.0, 0.2, 0.05)])
def test_grid_satisfies_constraint(target: float, tol: float, step: float) -> None:
    points = alpha_beta_gamma_grid(target, tol, step, max_points=None)
    assert points
    assert points == sorted(set(points))
    for a, b, g in points:
        assert min(a, b, g) >= 1.0 and max(a, b, g) <= 2.0
        assert abs(a * b**2 * g**2 - target) <= tol + 1e-9
        for v in (a, b, g):
            assert abs((v - 1.0) / step - round((v - 1.0) / step)) < 1e-6


def test_grid_is_bounded_and_spans_the_range() -> None:
    full = alpha_beta_gamma_grid(max_points=None)
    capped = alpha_beta_gamma_grid(max_points=10)
    assert len(full) > 10 and len(capped) == 10
    assert capped[0] == full[0] and capped[-1] == full[-1]
    assert set(capped) <= set(full)
    assert alpha_beta_gamma_grid(2.3, 0.001, 0.5) == []


def _strategy(**settings: Any) -> CompoundScalingStrategy:
    cfg = StrategyConfig.model_validate({"name": "compound-scaling", "seed": 0, "settings": settings})
    scaling = ScalingConfig.model_validate({"base": BASE, "max_phi": 3})
    reward = RewardConfig.model_validate({"target_ms": 2.0})
    s = make_strategy(cfg, None, reward, scaling=scaling)
    assert isinstance(s, CompoundScalingStrategy)
    return s


def _objective(p: dict[str, Any]) -> Outcome:
    """Pure function: deeper/higher-res helps accuracy; latency grows with all three."""
    a, b, g, phi = p["alpha"] ** p["phi"], p["beta"] ** p["phi"], p["gamma"] ** p["phi"], p["phi"]
    acc = min(0.99, 0.7 + 0.08 * a + 0.05 * b + 0.1 * g - 0.1 * (a - 1.3) ** 2 + 0.01 * phi)
    return Outcome("completed", accuracy=acc, latency_ms=1.0 * a * b * b * g * g)


def _run(s: CompoundScalingStrategy, batch: int = 4) -> list[dict[str, Any]]:
    asked = []
    while not s.is_exhausted():
        batch_s = s.ask(batch)
        assert batch_s or s.pending == {}, "empty ask only while step-1 results are in flight"
        for sug in batch_s:
            asked.append(sug.params)
            s.tell(sug.suggestion_id, _objective(sug.params))
    return asked


def test_two_steps_and_monotone_macs_table() -> None:
    s = _strategy(max_grid_points=8)
    first = s.ask(100)
    assert len(first) == 9  # base + 8 grid points at phi=1, nothing of step 2 yet
    assert s.ask(3) == []  # waiting for step-1 results
    assert not s.is_exhausted()
    for sug in first:
        assert sug.architecture.resolution % 8 == 0
        s.tell(sug.suggestion_id, _objective(sug.params))
    second = s.ask(10)
    assert [x.params["phi"] for x in second] == [2, 3]
    assert s.is_exhausted()
    assert s.chosen is not None and s.chosen in s.grid
    for sug in second:
        s.tell(sug.suggestion_id, _objective(sug.params))
    table = s.scaling_table()
    assert [r["phi"] for r in table] == [0, 1, 2, 3]
    macs = [r["macs"] for r in table]
    assert macs == sorted(macs) and len(set(macs)) == 4
    assert all(r["state"] == "completed" and r["reward"] is not None for r in table)
    assert table[2]["depth_multiplier"] == pytest.approx(s.chosen[0] ** 2)
    assert len(s.grid_table()) == 9
    json.dumps(table)


def test_choice_is_the_best_reward_and_rejections_are_survived() -> None:
    s = _strategy(max_grid_points=6, include_base=False)
    rewards: dict[tuple[float, float, float], float] = {}
    for sug in s.ask(6):
        if sug.params["alpha"] == s.grid[0][0]:
            s.tell(sug.suggestion_id, Outcome("rejected"))
            continue
        o = _objective(sug.params)
        rewards[(sug.params["alpha"], sug.params["beta"], sug.params["gamma"])] = (
            s.objectives.reward_of(o) or 0.0
        )
        s.tell(sug.suggestion_id, o)
    s.ask(1)
    assert s.chosen == max(rewards, key=lambda k: rewards[k])


def test_all_rejected_falls_back_to_paper_coefficients() -> None:
    s = _strategy(max_grid_points=3, include_base=False)
    for sug in s.ask(3):
        s.tell(sug.suggestion_id, Outcome("rejected"))
    assert s.ask(1)[0].params == {"alpha": 1.2, "beta": 1.1, "gamma": 1.15, "phi": 2}
    assert "paper" in s.chosen_note


def test_resume_mid_step_one_continues_identically() -> None:
    a, b = _strategy(max_grid_points=5), _strategy(max_grid_points=5)
    for s in (a, b):
        for sug in s.ask(3):
            s.tell(sug.suggestion_id, _objective(sug.params))
        s.ask(2)  # in flight at the restart
    c = _strategy(max_grid_points=5)
    c.load_state_dict(json.loads(json.dumps(b.state_dict())), b.told())
    for s in (a, c):
        for sid, params in s.pending.items():
            s.tell(sid, _objective(params))
    assert _run(a) == _run(c)
    assert a.scaling_table() == c.scaling_table()


def test_base_forms_and_errors() -> None:
    cfg = StrategyConfig.model_validate({"name": "compound-scaling"})
    s = make_strategy(
        cfg, None, scaling=ScalingConfig.model_validate({"base": "efficientnet_b0", "max_phi": 1})
    )
    assert isinstance(s, CompoundScalingStrategy) and s.base is not None and s.base.resolution == 224
    with pytest.raises(ValueError, match="not a preset name"):
        make_strategy(cfg, None, scaling=ScalingConfig.model_validate({"base": "no-such-preset"}))
    unresolved = make_strategy(cfg, None, scaling=ScalingConfig.model_validate({"base": "123"}))
    with pytest.raises(ValueError, match="trial id"):
        unresolved.ask(1)
    with pytest.raises(ValueError, match="needs the job's ScalingConfig"):
        make_strategy(cfg, None)
    with pytest.raises(ValueError, match="no \\(alpha, beta, gamma\\)"):
        make_strategy(
            cfg,
            None,
            scaling=ScalingConfig.model_validate(
                {"base": BASE, "flops_target": 2.3, "tolerance": 0.001, "grid_step": 0.5}
            ),
        )


def test_rebuilt_from_state_uses_the_saved_base() -> None:
    """The dashboard rebuilds the table from the job spec (base maybe a trial id) plus the saved state."""
    s = _strategy(max_grid_points=4, base_overrides={"resolution": 32, "num_classes": 10})
    _run(s)
    cfg = StrategyConfig.model_validate({"name": "compound-scaling", "settings": {"max_grid_points": 4}})
    rebuilt = make_strategy(
        cfg,
        None,
        RewardConfig.model_validate({"target_ms": 2.0}),
        scaling=ScalingConfig.model_validate({"base": "42", "max_phi": 3}),
    )
    rebuilt.load_state_dict(json.loads(json.dumps(s.state_dict())), s.told())
    assert isinstance(rebuilt, CompoundScalingStrategy)
    assert rebuilt.scaling_table() == s.scaling_table()
    assert s.scaling_table()[0]["resolution"] == 32
