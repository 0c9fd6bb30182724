"""Reward and hypervolume helpers the storage and API share (delegating to the core modules when present)."""

from __future__ import annotations

from collections.abc import Iterable


def mnasnet_reward(accuracy: float, latency_ms: float, target_ms: float, alpha: float, beta: float) -> float:
    """MnasNet reward ``ACC * (LAT / T) ** w`` (``w = alpha`` if ``LAT <= T`` else ``beta``).

    Uses :func:`nas_service.reward.mnasnet_reward` when that module is installed; the formula here is the same.
    """
    try:
        from nas_service.reward import mnasnet_reward as core
    except ImportError:  # the core module lands separately; same formula below
        pass
    else:
        return float(core(accuracy, latency_ms, target_ms, alpha, beta))
    w = alpha if latency_ms <= target_ms else beta
    return float(accuracy * (latency_ms / target_ms) ** w)


def hypervolume_2d(points: Iterable[tuple[float, float]], reference: tuple[float, float]) -> float:
    """Area dominated by ``(accuracy, latency_ms)`` points (accuracy max, latency min) up to ``reference``.

    ``reference`` is ``(accuracy_ref, latency_ref)``: only the region with accuracy above and latency below it
    counts. Dominated points are harmless (a sweep over latency keeps the best accuracy so far).
    """
    ref_acc, ref_lat = reference
    pts = sorted((lat, acc) for acc, lat in points if acc > ref_acc and lat < ref_lat)
    area, best_acc = 0.0, ref_acc
    for i, (lat, acc) in enumerate(pts):
        best_acc = max(best_acc, acc)
        next_lat = pts[i + 1][0] if i + 1 < len(pts) else ref_lat
        area += (next_lat - lat) * (best_acc - ref_acc)
    return area
