"""Pareto ranking of (accuracy, latency) points, shared by evolution and the multi-fidelity scheduler.

Delegates to :mod:`nas_service.pareto` when it is importable; the small fallbacks here give the same answers
for two objectives (maximise accuracy, minimise latency) so the strategies work on their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Point = tuple[float, float]  # (accuracy, latency_ms): accuracy maximised, latency minimised
DIRECTIONS = ("max", "min")


def _shared() -> Any:
    """The shared :mod:`nas_service.pareto` module, or ``None`` when it is not there."""
    try:
        from nas_service import pareto
    except ImportError:
        return None
    return pareto


def _dominates(a: Point, b: Point) -> bool:
    return a[0] >= b[0] and a[1] <= b[1] and (a[0] > b[0] or a[1] < b[1])


def pareto_ranks(points: Sequence[Point]) -> list[int]:
    """Non-dominated rank of each point (0 = on the front)."""
    shared = _shared()
    if shared is not None:
        fronts = shared.non_dominated_sort([list(p) for p in points], DIRECTIONS)
        ranks = [0] * len(points)
        for r, front in enumerate(fronts):
            for i in front:
                ranks[int(i)] = r
        return ranks
    remaining = set(range(len(points)))
    ranks = [0] * len(points)
    rank = 0
    while remaining:
        front = {
            i for i in remaining if not any(_dominates(points[j], points[i]) for j in remaining if j != i)
        }
        for i in front:
            ranks[i] = rank
        remaining -= front
        rank += 1
    return ranks


def hypervolume_contributions(points: Sequence[Point], reference: Point) -> list[float]:
    """Exclusive hypervolume contribution of each point of one front, w.r.t. ``reference`` (worst corner)."""
    shared = _shared()
    if shared is not None:
        return [
            float(c)
            for c in shared.hypervolume_contributions_2d(
                [list(p) for p in points], list(reference), DIRECTIONS
            )
        ]
    return [
        hypervolume(points, reference) - hypervolume(list(points[:i]) + list(points[i + 1 :]), reference)
        for i in range(len(points))
    ]


def hypervolume(points: Sequence[Point], reference: Point) -> float:
    """Area dominated by ``points`` and bounded by ``reference`` = (worst accuracy, worst latency)."""
    shared = _shared()
    if shared is not None:
        return float(shared.hypervolume_2d([list(p) for p in points], list(reference), DIRECTIONS))
    useful = sorted((p for p in points if p[0] > reference[0] and p[1] < reference[1]), key=lambda p: p[1])
    area, best_acc = 0.0, reference[0]
    # Sweep by increasing latency: each point adds the strip between its latency and the reference latency
    # above the best accuracy seen at lower latency.
    for acc, lat in useful:
        if acc > best_acc:
            area += (acc - best_acc) * (reference[1] - lat)
            best_acc = acc
    return area
