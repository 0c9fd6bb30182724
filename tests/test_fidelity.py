"""Proxy fidelity: rank correlations equal scipy's, top-1 agreement, regret and the proxy recommendation."""

from __future__ import annotations

import random

import pytest
from scipy.stats import kendalltau, spearmanr

from nas_service.fidelity import FidelityPair, ProxyCandidate, fidelity_report, rank_correlations, recommend_proxy


def test_correlations_match_scipy_with_ties() -> None:
    rng = random.Random(3)
    x = [round(rng.random(), 1) for _ in range(25)]  # rounded: ties on both sides
    y = [round(v + rng.gauss(0, 0.2), 1) for v in x]
    tau, rho = rank_correlations(x, y)
    assert tau == pytest.approx(kendalltau(x, y).statistic)
    assert rho == pytest.approx(spearmanr(x, y).statistic)
    assert rank_correlations([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == (pytest.approx(-1.0), pytest.approx(-1.0))


def test_undefined_correlations_are_none() -> None:
    assert rank_correlations([0.5], [0.7]) == (None, None)
    assert rank_correlations([0.5, 0.5, 0.5], [0.1, 0.2, 0.3]) == (None, None)
    with pytest.raises(ValueError, match="differ in length"):
        rank_correlations([1.0], [1.0, 2.0])


def test_report_top1_and_regret() -> None:
    pairs = [
        FidelityPair(1, proxy_accuracy=0.90, final_accuracy=0.95, proxy_reward=0.88, final_reward=0.93),
        FidelityPair(2, proxy_accuracy=0.85, final_accuracy=0.97, proxy_reward=0.84, final_reward=0.96),
        FidelityPair(3, proxy_accuracy=0.80, final_accuracy=0.90, proxy_reward=0.79, final_reward=0.89),
    ]
    report = fidelity_report(pairs)
    assert report.n == 3 and report.proxy_pick == 1 and report.final_best == 2
    assert report.top1_agrees is False and report.regret == pytest.approx(0.96 - 0.93)
    assert report.kendall_tau == pytest.approx(kendalltau([0.9, 0.85, 0.8], [0.95, 0.97, 0.9]).statistic)
    agreeing = fidelity_report([p for p in pairs if p.trial_id != 2])
    assert agreeing.top1_agrees is True and agreeing.regret == 0.0
    assert set(report.to_dict()) >= {"kendall_tau", "spearman", "n", "top1_agrees", "regret"}


def test_recommendation_is_the_cheapest_good_enough_proxy() -> None:
    cands = [
        ProxyCandidate("epochs=1", kendall_tau=0.4, cost=0.05),
        ProxyCandidate("epochs=2,resolution=16", kendall_tau=0.65, cost=0.1),
        ProxyCandidate("epochs=4", kendall_tau=0.8, cost=0.2),
        ProxyCandidate("data_fraction=0.25", kendall_tau=None, cost=0.03),
    ]
    assert recommend_proxy(cands).name == "epochs=2,resolution=16"  # type: ignore[union-attr]
    assert recommend_proxy(cands, min_tau=0.7).name == "epochs=4"  # type: ignore[union-attr]
    assert recommend_proxy(cands, min_tau=0.9) is None
