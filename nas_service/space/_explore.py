"""Exploring a space: seeded sampling, mutation, neighbourhoods, the full grid and index vectors."""

from __future__ import annotations

import itertools
import operator
import random
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from nas_service.space._codec import (
    STAGE_KEYS,
    active_names,
    canonicalize,
    cardinality,
    global_parameters,
    parameters,
    stage_parameters,
)
from nas_service.space._errors import SpaceValidationError
from nas_service.space._model import EXPANSION_OPS, KERNEL_OPS, SE_OPS

if TYPE_CHECKING:
    from nas_service.space._model import SearchSpace, StageChoices

_MUTATION_ATTEMPTS = 100


def as_rng(rng: random.Random | int | None) -> random.Random:
    """A ``random.Random`` from a seed, an existing generator (used as is) or ``None`` (fresh entropy)."""
    if isinstance(rng, random.Random):
        return rng
    if rng is None or (isinstance(rng, int) and not isinstance(rng, bool)):
        return random.Random(rng)
    raise TypeError(f"rng must be a random.Random, an int seed or None, got {type(rng).__name__}")


def sample(space: SearchSpace, rng: random.Random | int | None = None) -> dict[str, Any]:
    """Draw every parameter uniformly from its choices, then canonicalize (see :meth:`SearchSpace.sample`)."""
    r = as_rng(rng)
    return canonicalize(space, {name: r.choice(values) for name, values in parameters(space).items()})


def _differences(space: SearchSpace, before: dict[str, Any], after: dict[str, Any]) -> int:
    return sum(1 for name in active_names(space, after) if after[name] != before[name])


def mutate(
    space: SearchSpace, params: dict[str, Any], rng: random.Random | int | None = None, n_mutations: int = 1
) -> dict[str, Any]:
    """Change ``n_mutations`` distinct active parameters of ``params`` to other choices.

    The result is canonical and differs from ``canonicalize(params)`` in exactly ``n_mutations`` of the
    parameters that are active in the result (inactive ones only follow the canonical rule), so it is always a
    different network. A change of ``op`` may activate other parameters; they keep their canonical value.

    Raises:
        ValueError: ``n_mutations`` is below 1 or over what the space can change at once.
    """
    if n_mutations < 1:
        raise ValueError(f"n_mutations must be at least 1, got {n_mutations}")
    dists = parameters(space)
    variable = sum(1 for v in dists.values() if len(v) > 1)
    if n_mutations > variable:
        raise ValueError(f"cannot change {n_mutations} parameters: space {space.name!r} has only {variable}")
    r = as_rng(rng)
    base = canonicalize(space, params)
    for _ in range(_MUTATION_ATTEMPTS):
        current = dict(base)
        changed: set[str] = set()
        for _ in range(n_mutations):
            candidates = [n for n in active_names(space, current) if len(dists[n]) > 1 and n not in changed]
            if not candidates:
                break
            name = r.choice(candidates)
            current[name] = r.choice([c for c in dists[name] if c != current[name]])
            changed.add(name)
        # A later op change can deactivate an earlier change; such draws are redone, not patched.
        result = canonicalize(space, current)
        if _differences(space, base, result) == n_mutations:
            return result
    raise ValueError(f"could not change exactly {n_mutations} active parameters of this assignment")


def neighbors(space: SearchSpace, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Canonical assignments one active parameter away from ``params``, in parameter order."""
    base = canonicalize(space, params)
    dists = parameters(space)
    for name in active_names(space, base):
        for choice in dists[name]:
            if choice != base[name]:
                yield canonicalize(space, {**base, name: choice})


def _stage_grid(stage: StageChoices) -> list[dict[str, Any]]:
    d = stage_parameters(stage)
    out = []
    for op in d["op"]:
        mixed_choices = d["mixed"] if op == "mdconv" else d["mixed"][:1]
        for mixed in mixed_choices:
            axes = {
                "kernel": d["kernel"] if op in KERNEL_OPS else d["kernel"][:1],
                "partition": d["partition"] if op == "mdconv" and "." in mixed else d["partition"][:1],
                "expansion": d["expansion"] if op in EXPANSION_OPS else d["expansion"][:1],
                "se": d["se"] if op in SE_OPS else d["se"][:1],
                "repeat_delta": d["repeat_delta"],
                "width": d["width"],
                "act": d["act"],
                "skip": d["skip"],
            }
            for combo in itertools.product(*axes.values()):
                values = dict(zip(axes, combo, strict=True))
                values.update(op=op, mixed=mixed)
                out.append({key: values[key] for key in STAGE_KEYS})
    return out


def grid(space: SearchSpace, max_points: int | None = None) -> Iterator[dict[str, Any]]:
    """Every canonical assignment once (see :meth:`SearchSpace.grid`)."""
    total = cardinality(space)
    if max_points is not None and total > max_points:
        raise ValueError(f"space {space.name!r} has {total:,} points, over max_points={max_points:,}")
    return _grid(space)


def _grid(space: SearchSpace) -> Iterator[dict[str, Any]]:
    stages = [_stage_grid(s) for s in space.stages]
    glob = global_parameters(space)
    for combo in itertools.product(*stages, *glob.values()):
        out: dict[str, Any] = {}
        for i, values in enumerate(combo[: len(stages)]):
            for key, v in values.items():
                out[f"s{i}.{key}"] = v
        out.update(zip(glob, combo[len(stages) :], strict=True))
        yield out


def _index(choices: list[Any], value: Any) -> int:
    for j, c in enumerate(choices):
        if type(c) is type(value) and c == value:
            return j
    raise ValueError(f"{value!r} not in {choices}")  # unreachable after canonicalize


def to_vector(space: SearchSpace, params: dict[str, Any]) -> list[int]:
    """Choice indices of ``canonicalize(params)``."""
    p = canonicalize(space, params)
    return [_index(values, p[name]) for name, values in parameters(space).items()]


def from_vector(space: SearchSpace, vector: list[int]) -> dict[str, Any]:
    """Canonical parameters of choice indices (see :meth:`SearchSpace.from_vector`)."""
    dists = parameters(space)
    if len(vector) != len(dists):
        raise SpaceValidationError(
            "vector", f"has {len(vector)} entries, the space has {len(dists)} parameters"
        )
    params = {}
    for (name, values), j in zip(dists.items(), vector, strict=True):
        try:
            if isinstance(j, bool):
                raise TypeError
            idx = operator.index(j)  # accepts numpy integers from RL policies
        except TypeError:
            raise SpaceValidationError(name, f"index {j!r} is not an integer") from None
        if not 0 <= idx < len(values):
            raise SpaceValidationError(name, f"index {idx} out of range 0..{len(values) - 1}")
        params[name] = values[idx]
    return canonicalize(space, params)
