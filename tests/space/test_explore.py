"""Seeded sampling, mutation, neighbours and index vectors."""

from __future__ import annotations

import random

import pytest

from nas_service.space import SearchSpace, SpaceValidationError


def test_sampling_is_reproducible(preset: SearchSpace) -> None:
    a = [preset.sample(seed) for seed in range(5)]
    b = [preset.sample(random.Random(seed)) for seed in range(5)]
    assert a == b
    rng1, rng2 = random.Random(7), random.Random(7)
    assert [preset.sample(rng1) for _ in range(5)] == [preset.sample(rng2) for _ in range(5)]
    assert len({str(p) for p in a}) > 1


def _changed(space: SearchSpace, before: dict, after: dict) -> list[str]:
    return [n for n in space.active(after) if after[n] != before[n]]


@pytest.mark.parametrize("n", [1, 2, 3])
def test_mutate_changes_exactly_n_active_fields(preset: SearchSpace, n: int) -> None:
    rng = random.Random(n)
    for _ in range(25):
        parent = preset.sample(rng)
        child = preset.mutate(parent, rng, n_mutations=n)
        assert len(_changed(preset, parent, child)) == n
        assert preset.canonicalize(child) == child
        assert preset.decode(child) != preset.decode(parent)


def test_mutate_is_seeded_and_refuses_bad_counts(tiny: SearchSpace) -> None:
    p = tiny.sample(1)
    assert tiny.mutate(p, 5, 2) == tiny.mutate(p, random.Random(5), 2)
    with pytest.raises(ValueError, match="at least 1"):
        tiny.mutate(p, 0, 0)
    with pytest.raises(ValueError, match="only"):
        tiny.mutate(p, 0, 50)


def test_neighbors_differ_in_one_active_field(tiny: SearchSpace) -> None:
    p = tiny.sample(2)
    seen = set()
    for q in tiny.neighbors(p):
        assert len(_changed(tiny, p, q)) == 1
        seen.add(str(q))
    expected = sum(len(tiny.parameters()[n]) - 1 for n in tiny.active(p))
    assert len(seen) == expected


def test_vectors(tiny: SearchSpace) -> None:
    p = tiny.sample(4)
    v = tiny.to_vector(p)
    assert len(v) == len(tiny.vector_spec())
    assert all(0 <= i < k for i, (_, k) in zip(v, tiny.vector_spec(), strict=True))
    assert tiny.from_vector(v) == p
    with pytest.raises(SpaceValidationError) as info:
        tiny.from_vector([0] * 3)
    assert info.value.field == "vector"
    bad = list(v)
    bad[1] = 9
    with pytest.raises(SpaceValidationError) as info:
        tiny.from_vector(bad)
    assert info.value.field == "s0.kernel"
