"""Pareto utilities against brute force and against Optuna's hypervolume."""

from __future__ import annotations

import random

import numpy as np
import pytest

from nas_service.pareto import (
    ParetoFront2D,
    default_reference_point,
    dominates,
    hypervolume_2d,
    hypervolume_contributions_2d,
    non_dominated_sort,
    pareto_front,
)


def _points(rng: random.Random, n: int, dims: int = 2, grid: int | None = None) -> list[list[float]]:
    # A coarse grid makes many ties and duplicates, the cases where sweeps go wrong.
    if grid:
        return [[float(rng.randint(0, grid)) for _ in range(dims)] for _ in range(n)]
    return [[rng.random() for _ in range(dims)] for _ in range(n)]


def _brute_sort(points: list[list[float]], directions: tuple[str, ...]) -> list[list[int]]:
    remaining = set(range(len(points)))
    fronts = []
    while remaining:
        front = sorted(
            i for i in remaining if not any(dominates(points[j], points[i], directions) for j in remaining)
        )
        fronts.append(front)
        remaining -= set(front)
    return fronts


def test_dominates() -> None:
    assert dominates([0.9, 2.0], [0.8, 3.0])
    assert dominates([0.9, 3.0], [0.8, 3.0])
    assert not dominates([0.9, 3.0], [0.9, 3.0])
    assert not dominates([0.9, 4.0], [0.8, 3.0])
    assert dominates([1.0, 1.0], [2.0, 2.0], ("min", "min"))
    with pytest.raises(ValueError, match="directions"):
        dominates([1.0, 1.0], [2.0, 2.0], ("up", "min"))
    with pytest.raises(ValueError, match="2 directions"):
        dominates([1.0, 1.0, 1.0], [2.0, 2.0, 2.0])


@pytest.mark.parametrize("directions", [("max", "min"), ("min", "min"), ("max", "max"), ("min", "max")])
def test_non_dominated_sort_2d_matches_brute_force(directions: tuple[str, str]) -> None:
    rng = random.Random(hash(directions) % 1000)
    for trial in range(30):
        pts = _points(rng, rng.randint(0, 40), grid=5 if trial % 2 else None)
        assert non_dominated_sort(pts, directions) == _brute_sort(pts, directions)
        assert pareto_front(pts, directions) == (_brute_sort(pts, directions) or [[]])[0]


@pytest.mark.parametrize("dims", [1, 3])
def test_non_dominated_sort_other_dimensions(dims: int) -> None:
    rng = random.Random(dims)
    directions = ("max", "min", "min")[:dims]
    for trial in range(15):
        pts = _points(rng, 30, dims, grid=4 if trial % 2 else None)
        assert non_dominated_sort(pts, directions) == _brute_sort(pts, directions)


def test_sort_rejects_bad_points() -> None:
    with pytest.raises(ValueError, match="NaN"):
        non_dominated_sort([[0.5, float("nan")]])
    with pytest.raises(ValueError, match=r"points\[1\]"):
        non_dominated_sort([[0.5, 1.0], [0.5]])
    assert non_dominated_sort([]) == [] and pareto_front([]) == []


def test_hypervolume_2d_simple_cases() -> None:
    assert hypervolume_2d([[0.9, 3.0], [0.8, 2.0]], [0.0, 5.0]) == pytest.approx(0.9 * 2 + 0.8 * 1)
    assert hypervolume_2d([], [0.0, 5.0]) == 0.0
    # Points that do not beat the reference in both objectives add nothing.
    assert hypervolume_2d([[0.9, 6.0], [-0.1, 1.0], [0.5, 5.0]], [0.0, 5.0]) == 0.0


def test_hypervolume_2d_matches_optuna() -> None:
    from optuna._hypervolume import compute_hypervolume

    rng = random.Random(0)
    for trial in range(40):
        pts = _points(rng, rng.randint(1, 50), grid=6 if trial % 3 == 0 else None)
        ref = [0.1, 0.9] if trial % 3 else [1.0, 5.0]
        ours = hypervolume_2d(pts, ref)
        # Optuna minimises and needs every point within the reference: negate accuracy, drop outsiders.
        loss = np.array([[-a, lat] for a, lat in pts if a >= ref[0] and lat <= ref[1]]).reshape(-1, 2)
        theirs = compute_hypervolume(loss, np.array([-ref[0], ref[1]]))
        assert ours == pytest.approx(theirs, abs=1e-12)


def test_contributions_match_leave_one_out() -> None:
    rng = random.Random(1)
    for trial in range(40):
        pts = _points(rng, rng.randint(1, 30), grid=5 if trial % 2 else None)
        ref = [0.0, 6.0] if trial % 2 else [0.05, 0.95]
        total = hypervolume_2d(pts, ref)
        got = hypervolume_contributions_2d(pts, ref)
        want = [total - hypervolume_2d(pts[:i] + pts[i + 1 :], ref) for i in range(len(pts))]
        assert got == pytest.approx(want, abs=1e-12)


def test_default_reference_point() -> None:
    assert default_reference_point([[0.9, 2.0], [0.5, 4.0]]) == (0.0, pytest.approx(4.4))
    assert default_reference_point([[0.9, 2.0]], target_ms=5.0) == (0.0, pytest.approx(5.5))
    assert default_reference_point([], target_ms=5.0) == (0.0, pytest.approx(5.5))
    with pytest.raises(ValueError):
        default_reference_point([])


def test_incremental_front_equals_batch_in_any_insert_order() -> None:
    rng = random.Random(2)
    for trial in range(30):
        pts = _points(rng, rng.randint(1, 60), grid=6 if trial % 2 else None)
        want = sorted(pareto_front(pts))
        ref = default_reference_point(pts)
        for _ in range(3):
            order = list(range(len(pts)))
            rng.shuffle(order)
            front: ParetoFront2D[int] = ParetoFront2D()
            alive: set[int] = set()
            for i in order:
                added, removed = front.add(i, *pts[i])
                assert added == (not any(dominates(pts[j], pts[i]) for j in alive))
                alive -= set(removed)
                if added:
                    alive.add(i)
                assert alive == set(front.ids())
            assert sorted(front.ids()) == want
            lats = [lat for _, _, lat in front.points()]
            assert lats == sorted(lats) and len(front) == len(want)
            assert front.hypervolume(ref) == pytest.approx(hypervolume_2d(pts, ref), abs=1e-12)


def test_incremental_front_details() -> None:
    front: ParetoFront2D[str] = ParetoFront2D()
    assert front.add("a", 0.8, 3.0) == (True, [])
    assert front.add("b", 0.7, 4.0) == (False, [])
    assert front.add("c", 0.8, 3.0) == (True, [])  # a duplicate joins
    assert front.add("d", 0.9, 3.0) == (True, ["a", "c"])
    assert front.add("e", 0.5, 1.0) == (True, [])
    assert [p[0] for p in front] == ["e", "d"]
    assert front.is_dominated(0.5, 2.0) and not front.is_dominated(0.95, 5.0)
    assert front.hypervolume((0.0, 4.0)) == pytest.approx(0.5 * 3 + 0.4 * 1)
    with pytest.raises(ValueError, match="NaN"):
        front.add("f", float("nan"), 1.0)


def test_numpy_arrays_are_accepted() -> None:
    pts = np.array([[0.9, 3.0], [0.8, 2.0], [0.7, 4.0]])
    assert non_dominated_sort(pts) == [[0, 1], [2]]
    assert pareto_front(pts) == [0, 1]
    assert hypervolume_2d(pts, np.array([0.0, 5.0])) == pytest.approx(2.6)
    assert hypervolume_contributions_2d(pts, [0.0, 5.0]) == pytest.approx([0.2, 0.8, 0.0])
