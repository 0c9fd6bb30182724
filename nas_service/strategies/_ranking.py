"""Pareto ranking of (accuracy, latency) points for evolution and the multi-fidelity scheduler.

Thin adapters over :mod:`nas_service.pareto` (accuracy maximised, latency minimised).
"""

from __future__ import annotations

from collections.abc import Sequence

from nas_service import pareto

Point = tuple[float, float]  # (accuracy, latency_ms)
DIRECTIONS = ("max", "min")


def pareto_ranks(points: Sequence[Point]) -> list[int]:
    """Non-dominated rank of each point (0 = on the front)."""
    ranks = [0] * len(points)
    for rank, front in enumerate(pareto.non_dominated_sort([list(p) for p in points], DIRECTIONS)):
        for i in front:
            ranks[int(i)] = rank
    return ranks


def hypervolume_contributions(points: Sequence[Point], reference: Point) -> list[float]:
    """Exclusive hypervolume contribution of each point, w.r.t. ``reference`` (the worst corner)."""
    return [
        float(c)
        for c in pareto.hypervolume_contributions_2d([list(p) for p in points], list(reference), DIRECTIONS)
    ]


def hypervolume(points: Sequence[Point], reference: Point) -> float:
    """Area dominated by ``points`` and bounded by ``reference`` = (worst accuracy, worst latency)."""
    if not points:
        return 0.0
    return float(pareto.hypervolume_2d([list(p) for p in points], list(reference), DIRECTIONS))
