"""Proxy fidelity: does the cheap proxy rank networks the way the real (stage-two) training does?

Vertex AI NAS ships proxy-task design tools that measure the rank correlation between a cheap proxy and full
training; this module is that measurement for nas-service. :func:`fidelity_report` takes one
:class:`FidelityPair` per finalized network (its proxy accuracy and reward from the search, its final accuracy
and reward from stage two) and reports:

* Kendall's tau-b and Spearman's rho between proxy and final accuracy, and between proxy and final reward
  (scipy's implementations, ties handled; ``None`` with fewer than two networks or no variation);
* ``top1_agrees``: whether the proxy's best network (by reward) is also the final best;
* ``regret``: the best final reward minus the final reward of the proxy's pick (0 when the proxy's pick is
  the best; what a user loses by trusting the proxy).

:func:`recommend_proxy` picks, among candidate proxies measured against a reference (``nas proxy study``), the
cheapest whose tau reaches a threshold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["FidelityPair", "FidelityReport", "ProxyCandidate", "fidelity_report", "rank_correlations",
           "recommend_proxy"]  # fmt: skip


@dataclass(frozen=True)
class FidelityPair:
    """One network's proxy and final numbers.

    Attributes:
        trial_id: The source (search) trial.
        proxy_accuracy: Validation accuracy after the proxy training.
        final_accuracy: Test accuracy after the final training.
        proxy_reward: MnasNet reward of the proxy result (``None`` when unknown).
        final_reward: MnasNet reward of the final result (``None`` when unknown).
    """

    trial_id: int
    proxy_accuracy: float
    final_accuracy: float
    proxy_reward: float | None = None
    final_reward: float | None = None


@dataclass(frozen=True)
class FidelityReport:
    """Rank agreement of a proxy with the final training (see the module docstring)."""

    n: int
    kendall_tau: float | None
    spearman: float | None
    reward_kendall_tau: float | None
    reward_spearman: float | None
    top1_agrees: bool | None
    regret: float | None
    proxy_pick: int | None
    final_best: int | None

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict (the keys of ``nas fidelity --json``)."""
        return dict(self.__dict__)


def rank_correlations(x: Sequence[float], y: Sequence[float]) -> tuple[float | None, float | None]:
    """Kendall's tau-b and Spearman's rho of ``x`` and ``y`` (``None`` where undefined: n < 2 or no variation)."""
    if len(x) != len(y):
        raise ValueError(f"x and y differ in length: {len(x)} vs {len(y)}")
    if len(x) < 2 or len(set(x)) < 2 or len(set(y)) < 2:
        return None, None
    from scipy.stats import kendalltau, spearmanr

    tau = float(kendalltau(x, y).statistic)
    rho = float(spearmanr(x, y).statistic)
    return (tau if math.isfinite(tau) else None), (rho if math.isfinite(rho) else None)


def fidelity_report(pairs: Sequence[FidelityPair]) -> FidelityReport:
    """Kendall/Spearman of proxy vs final accuracy and reward, top-1 agreement and regret over ``pairs``."""
    tau, rho = rank_correlations([p.proxy_accuracy for p in pairs], [p.final_accuracy for p in pairs])
    rewarded = [p for p in pairs if p.proxy_reward is not None and p.final_reward is not None]
    r_tau = r_rho = None
    top1 = regret = None
    pick = best = None
    if rewarded:
        r_tau, r_rho = rank_correlations(
            [float(p.proxy_reward) for p in rewarded],  # type: ignore[arg-type]
            [float(p.final_reward) for p in rewarded],  # type: ignore[arg-type]
        )
        # Ties go to the lower trial id, so the answer does not depend on the order the pairs came in.
        by_proxy = max(rewarded, key=lambda p: (p.proxy_reward, -p.trial_id))
        by_final = max(rewarded, key=lambda p: (p.final_reward, -p.trial_id))
        pick, best = by_proxy.trial_id, by_final.trial_id
        top1 = by_final.final_reward == by_proxy.final_reward
        regret = float(by_final.final_reward) - float(by_proxy.final_reward)  # type: ignore[arg-type]
    return FidelityReport(
        n=len(pairs),
        kendall_tau=tau,
        spearman=rho,
        reward_kendall_tau=r_tau,
        reward_spearman=r_rho,
        top1_agrees=top1,
        regret=regret,
        proxy_pick=pick,
        final_best=best,
    )


@dataclass(frozen=True)
class ProxyCandidate:
    """A candidate proxy measured against the reference training.

    Attributes:
        name: How the user wrote it (``epochs=2,resolution=16``).
        kendall_tau: Rank agreement of its accuracies with the reference's on the same networks.
        cost: Its compute (CPU or GPU seconds) relative to the reference's (``0.1`` = ten times cheaper).
    """

    name: str
    kendall_tau: float | None
    cost: float


def recommend_proxy(candidates: Sequence[ProxyCandidate], min_tau: float = 0.6) -> ProxyCandidate | None:
    """The cheapest candidate whose tau is at least ``min_tau`` (``None`` when none qualifies)."""
    good = [c for c in candidates if c.kendall_tau is not None and c.kendall_tau >= min_tau]
    return min(good, key=lambda c: (c.cost, c.name)) if good else None
