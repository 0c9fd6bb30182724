"""Pareto utilities: dominance, non-dominated sorting, exact 2-D hypervolume and an incremental 2-D front.

Points are sequences of objective values; ``directions`` says per objective whether it is maximised
(``"max"``) or minimised (``"min"``). The 2-D helpers default to ``("max", "min")``: (accuracy, latency). Pure
Python, no numpy or torch needed; the 2-D algorithms are O(n log n).

Duplicated points do not dominate each other: they share a front, and neither has an exclusive hypervolume.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Hashable, Iterator, Sequence
from typing import Generic, TypeVar

Directions = Sequence[str]
ACC_LAT: tuple[str, str] = ("max", "min")
IdT = TypeVar("IdT", bound=Hashable)


def _signs(directions: Directions, dims: int) -> list[float]:
    if len(directions) != dims:
        raise ValueError(f"{len(directions)} directions for {dims}-objective points")
    signs = []
    for d in directions:
        if d not in ("max", "min"):
            raise ValueError(f"directions are 'max' or 'min', got {d!r}")
        signs.append(-1.0 if d == "max" else 1.0)
    return signs


def _as_min(points: Sequence[Sequence[float]], directions: Directions) -> list[tuple[float, ...]]:
    """Points turned into minimisation (maximised objectives negated), checked for shape and NaN."""
    if len(points) == 0:  # not "if not points": numpy arrays are accepted too
        return []
    dims = len(points[0])
    signs = _signs(directions, dims)
    out = []
    for i, p in enumerate(points):
        if len(p) != dims:
            raise ValueError(f"points[{i}] has {len(p)} objectives, expected {dims}")
        q = tuple(s * float(v) for s, v in zip(signs, p, strict=True))
        if any(math.isnan(v) for v in q):
            raise ValueError(f"points[{i}] has a NaN objective")
        out.append(q)
    return out


def dominates(a: Sequence[float], b: Sequence[float], directions: Directions = ACC_LAT) -> bool:
    """True when ``a`` is no worse than ``b`` in every objective and better in at least one."""
    qa, qb = _as_min([a, b], directions)
    return all(x <= y for x, y in zip(qa, qb, strict=True)) and qa != qb


def _sort_2d(q: list[tuple[float, ...]]) -> list[list[int]]:
    # Sweep in (x, y) order; front k keeps its last point, which has its smallest y. A point joins the first
    # front whose last point does not dominate it; "dominated by front k" is monotone in k, so bisect works.
    order = sorted(range(len(q)), key=lambda i: q[i])
    fronts: list[list[int]] = []
    last: list[tuple[float, ...]] = []
    for i in order:
        p = q[i]
        lo, hi = 0, len(fronts)
        while lo < hi:
            mid = (lo + hi) // 2
            lx, ly = last[mid]
            if ly < p[1] or (ly == p[1] and lx < p[0]):
                lo = mid + 1
            else:
                hi = mid
        if lo == len(fronts):
            fronts.append([])
            last.append(p)
        fronts[lo].append(i)
        last[lo] = p
    return [sorted(f) for f in fronts]


def _sort_nd(q: list[tuple[float, ...]]) -> list[list[int]]:
    # Deb et al.'s fast non-dominated sort, O(m n^2).
    n = len(q)
    dominated_by: list[list[int]] = [[] for _ in range(n)]
    counts = [0] * n
    for i in range(n):
        for j in range(i + 1, n):
            a, b = q[i], q[j]
            if a == b:
                continue
            if all(x <= y for x, y in zip(a, b, strict=True)):
                dominated_by[i].append(j)
                counts[j] += 1
            elif all(x >= y for x, y in zip(a, b, strict=True)):
                dominated_by[j].append(i)
                counts[i] += 1
    fronts = []
    current = [i for i in range(n) if counts[i] == 0]
    while current:
        fronts.append(sorted(current))
        nxt = []
        for i in current:
            for j in dominated_by[i]:
                counts[j] -= 1
                if counts[j] == 0:
                    nxt.append(j)
        current = nxt
    return fronts


def non_dominated_sort(
    points: Sequence[Sequence[float]], directions: Directions = ACC_LAT
) -> list[list[int]]:
    """Fronts of point indices, best first; each front sorted by index (O(n log n) for 2 objectives).

    Raises:
        ValueError: Points of unequal length, NaN values, or bad directions.
    """
    q = _as_min(points, directions)
    if not q:
        return []
    if len(q[0]) == 1:
        levels = sorted(set(q))
        rank = {v: k for k, v in enumerate(levels)}
        fronts: list[list[int]] = [[] for _ in levels]
        for i, p in enumerate(q):
            fronts[rank[p]].append(i)
        return fronts
    return _sort_2d(q) if len(q[0]) == 2 else _sort_nd(q)


def pareto_front(points: Sequence[Sequence[float]], directions: Directions = ACC_LAT) -> list[int]:
    """Indices of the non-dominated points, ascending."""
    fronts = non_dominated_sort(points, directions)
    return fronts[0] if fronts else []


def _inside_2d(
    points: Sequence[Sequence[float]], reference: Sequence[float], directions: Directions
) -> tuple[list[tuple[int, float, float]], float, float]:
    q = _as_min(list(points) + [reference], directions)
    rx, ry = q[-1]
    inside = [(i, x, y) for i, (x, y) in enumerate(q[:-1]) if x < rx and y < ry]
    inside.sort(key=lambda t: (t[1], t[2]))
    return inside, rx, ry


def _sweep(xy: Sequence[tuple[float, float]], rx: float, ry: float) -> float:
    area, cur_y = 0.0, ry
    for x, y in xy:  # sorted by x: each point adds the strip between its y and the best y so far
        if y < cur_y:
            area += (rx - x) * (cur_y - y)
            cur_y = y
    return area


def hypervolume_2d(
    points: Sequence[Sequence[float]], reference: Sequence[float], directions: Directions = ACC_LAT
) -> float:
    """Exact area dominated by ``points`` and bounded by ``reference`` (the worst corner).

    Points that do not strictly beat the reference in both objectives add nothing.

    Raises:
        ValueError: Points that are not 2-D, NaN values, or bad directions.
    """
    inside, rx, ry = _inside_2d(points, reference, directions)
    return _sweep([(x, y) for _, x, y in inside], rx, ry)


def hypervolume_contributions_2d(
    points: Sequence[Sequence[float]], reference: Sequence[float], directions: Directions = ACC_LAT
) -> list[float]:
    """Exclusive contribution of each point: ``HV(points) - HV(points without it)``, in O(n log n).

    Dominated points, duplicates and points outside the reference contribute 0.
    """
    inside, rx, ry = _inside_2d(points, reference, directions)
    out = [0.0] * len(points)
    front: list[tuple[int, float, float]] = []
    rest: list[tuple[int, float, float]] = []
    for t in inside:
        (front if not front or t[2] < front[-1][2] else rest).append(t)
    xs = [x for _, x, _ in front]
    # A front point's exclusive box reaches to the next front point's x and the previous one's y; dominated
    # points inside that box (only that point dominates them) cover part of it once it is removed.
    covered: list[list[tuple[float, float]]] = [[] for _ in front]
    for _, x, y in rest:
        j = bisect.bisect_right(xs, x) - 1
        top = front[j - 1][2] if j > 0 else ry
        if y < top:
            covered[j].append((x, y))
    for j, (i, x, y) in enumerate(front):
        right = front[j + 1][1] if j + 1 < len(front) else rx
        top = front[j - 1][2] if j > 0 else ry
        out[i] = (right - x) * (top - y) - _sweep(covered[j], right, top)
    return out


def default_reference_point(
    points: Sequence[Sequence[float]], target_ms: float | None = None, margin: float = 1.1
) -> tuple[float, float]:
    """A reference for (accuracy, latency) hypervolumes: accuracy 0, latency ``margin`` x the worst latency.

    With ``target_ms`` the latency is ``margin * max(worst latency, target_ms)``. Hypervolumes are only
    comparable under the same reference: to follow a search over time, fix one (e.g. from the target alone).

    Raises:
        ValueError: No points and no target.
    """
    lats = [float(p[1]) for p in points]
    worst = max(lats + ([float(target_ms)] if target_ms is not None else []), default=None)
    if worst is None:
        raise ValueError("a reference point needs points or a latency target")
    return (0.0, margin * worst)


def front_reference_latency(front_latencies: Sequence[float], target_ms: float) -> float:
    """The latency of the reference point of a job's front hypervolume: ``max(2 * T, 1.1 * worst latency)``.

    With accuracy 0 this is the reference ``GET /jobs/{id}/pareto`` reports and the dashboard draws (and
    re-computes when ``T`` changes in the page: its JavaScript form is tested against this one).

    Args:
        front_latencies: Latencies (ms) of the front's points (may be empty).
        target_ms: The latency target ``T`` (ms), > 0.
    """
    return max([2.0 * float(target_ms)] + [1.1 * float(lat) for lat in front_latencies])


class ParetoFront2D(Generic[IdT]):
    """The non-dominated set of (id, accuracy, latency) points, sorted by latency (and so by accuracy).

    ``add`` is O(log n) to test plus a list splice; ``points`` and ``hypervolume`` are O(n) (the hypervolume
    is cached until the front changes). Duplicates of a front point join the front. Ids may be any hashable
    (``ParetoFront2D[int]`` for trial ids).
    """

    def __init__(self) -> None:
        """An empty front."""
        self._lat: list[float] = []
        self._acc: list[float] = []
        self._ids: list[IdT] = []
        self._hv_cache: dict[tuple[float, float], float] = {}

    def __len__(self) -> int:
        """Number of points on the front."""
        return len(self._ids)

    def __iter__(self) -> Iterator[tuple[IdT, float, float]]:
        """The points as ``(id, accuracy, latency)``, by increasing latency."""
        return iter(self.points())

    def is_dominated(self, accuracy: float, latency: float) -> bool:
        """True when some front point dominates ``(accuracy, latency)``."""
        j = bisect.bisect_right(self._lat, latency) - 1
        if j < 0:
            return False
        a, lat = self._acc[j], self._lat[j]
        return a >= accuracy and (a, lat) != (accuracy, latency)

    def add(self, id: IdT, accuracy: float, latency: float) -> tuple[bool, list[IdT]]:
        """Offer a point; returns ``(added, ids removed because the new point dominates them)``.

        Raises:
            ValueError: A NaN objective.
        """
        acc, lat = float(accuracy), float(latency)
        if math.isnan(acc) or math.isnan(lat):
            raise ValueError("accuracy and latency must not be NaN")
        if self.is_dominated(acc, lat):
            return False, []
        start = bisect.bisect_left(self._lat, lat)
        while start < len(self._lat) and self._lat[start] == lat and self._acc[start] == acc:
            start += 1  # duplicates stay
        end = start
        while end < len(self._lat) and self._acc[end] <= acc:
            end += 1
        removed = self._ids[start:end]
        self._lat[start:end] = [lat]
        self._acc[start:end] = [acc]
        self._ids[start:end] = [id]
        self._hv_cache.clear()
        return True, removed

    def ids(self) -> list[IdT]:
        """Ids on the front, by increasing latency."""
        return list(self._ids)

    def points(self) -> list[tuple[IdT, float, float]]:
        """``(id, accuracy, latency)`` by increasing latency."""
        return list(zip(self._ids, self._acc, self._lat, strict=True))

    def hypervolume(self, reference: Sequence[float]) -> float:
        """Area dominated by the front within ``reference`` = (worst accuracy, worst latency)."""
        key = (float(reference[0]), float(reference[1]))
        if key not in self._hv_cache:
            ra, rl = key
            area, best = 0.0, ra
            for a, lat in zip(self._acc, self._lat, strict=True):
                if lat >= rl:
                    break
                if a > best:  # latency ascending: each point adds accuracy above the best so far
                    area += (a - best) * (rl - lat)
                    best = a
            self._hv_cache[key] = area
        return self._hv_cache[key]
