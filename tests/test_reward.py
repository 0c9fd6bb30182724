"""The MnasNet reward and its presets."""

from __future__ import annotations

import math

import pytest

from nas_service.jobspec import RewardConfig
from nas_service.reward import REWARD_PRESETS, mnasnet_reward, reward_from_config


def test_formula_on_both_sides_of_the_target() -> None:
    assert mnasnet_reward(0.8, 5.0, 5.0, -0.07, -0.5) == pytest.approx(0.8)
    assert mnasnet_reward(0.8, 2.5, 5.0, -0.07, -0.5) == pytest.approx(0.8 * 0.5**-0.07)
    assert mnasnet_reward(0.8, 10.0, 5.0, -0.07, -0.5) == pytest.approx(0.8 * 2**-0.5)
    assert mnasnet_reward(0.0, 10.0, 5.0, -0.07, -0.07) == 0.0


def test_hard_preset_ignores_latency_under_target() -> None:
    alpha, beta = REWARD_PRESETS["hard"]
    assert mnasnet_reward(0.7, 1.0, 5.0, alpha, beta) == pytest.approx(0.7)
    assert mnasnet_reward(0.7, 10.0, 5.0, alpha, beta) == pytest.approx(0.35)


def test_soft_preset_doubling_latency_costs_about_five_percent() -> None:
    alpha, beta = REWARD_PRESETS["soft"]
    ratio = mnasnet_reward(0.7, 10.0, 5.0, alpha, beta) / mnasnet_reward(0.7, 5.0, 5.0, alpha, beta)
    assert ratio == pytest.approx(2**-0.07) and 0.94 < ratio < 0.96


@pytest.mark.parametrize("preset", ["soft", "hard", "mobilenetv3"])
def test_presets_agree_with_reward_config(preset: str) -> None:
    cfg = RewardConfig.model_validate({"target_ms": 4.0, "preset": preset})
    assert (cfg.alpha, cfg.beta) == REWARD_PRESETS[preset]
    for lat in (1.0, 4.0, 9.0):
        alpha, beta = REWARD_PRESETS[preset]
        assert reward_from_config(0.6, lat, cfg) == mnasnet_reward(0.6, lat, 4.0, alpha, beta)


def test_explicit_exponents_win() -> None:
    cfg = RewardConfig.model_validate({"target_ms": 2.0, "alpha": 0.0, "beta": -2.0, "preset": "soft"})
    assert reward_from_config(0.5, 4.0, cfg) == pytest.approx(0.125)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ((1.5, 1.0, 1.0, 0.0, 0.0), "accuracy must be in [0, 1]"),
        ((-0.1, 1.0, 1.0, 0.0, 0.0), "accuracy must be in [0, 1]"),
        ((0.5, 0.0, 1.0, 0.0, 0.0), "latency_ms must be > 0"),
        ((0.5, -1.0, 1.0, 0.0, 0.0), "latency_ms must be > 0"),
        ((0.5, 1.0, 0.0, 0.0, 0.0), "target_ms must be > 0"),
        ((math.nan, 1.0, 1.0, 0.0, 0.0), "accuracy must be finite"),
        ((0.5, math.inf, 1.0, 0.0, 0.0), "latency_ms must be finite"),
        ((0.5, 1.0, 1.0, "x", 0.0), "alpha must be a number"),
    ],
)
def test_invalid_inputs(args: tuple, words: str) -> None:
    with pytest.raises(ValueError) as info:
        mnasnet_reward(*args)
    assert words in str(info.value)
