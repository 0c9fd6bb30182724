"""Semantic checks of a search space: caps, consistency, and that distinct choices give distinct networks.

The last rule keeps the parameter encoding a bijection between canonical assignments and networks, so
:meth:`SearchSpace.cardinality` counts networks exactly and :meth:`SearchSpace.encode` is well defined.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from nas_service.space._errors import SpaceValidationError
from nas_service.space._model import (
    EXPANSION_OPS,
    KERNEL_OPS,
    MAX_CHOICES_PER_FIELD,
    MAX_KERNEL,
    MAX_MIXED_SET,
    MAX_PHI,
    MAX_RESOLUTION,
    MAX_STAGE_CHANNELS,
    MAX_TOTAL_CHOICES,
    MAX_TOTAL_LAYERS,
    MIN_RESOLUTION,
    SE_OPS,
)

if TYPE_CHECKING:
    from nas_service.space._model import SearchSpace, StageChoices


def _fail(field: str, message: str) -> None:
    raise SpaceValidationError(field, message)


def _check_list(field: str, values: list[Any]) -> None:
    if not values:
        _fail(field, "needs at least one choice")
    if len(values) > MAX_CHOICES_PER_FIELD:
        _fail(field, f"has {len(values)} choices, at most {MAX_CHOICES_PER_FIELD} allowed")
    seen: list[Any] = []
    for v in values:
        if v in seen:
            _fail(field, f"choice {v!r} is listed twice")
        seen.append(v)


def _check_kernel(field: str, k: int) -> None:
    if k < 1 or k > MAX_KERNEL or k % 2 == 0:
        _fail(field, f"kernel sizes must be odd integers in 1..{MAX_KERNEL}, got {k}")


def _check_stage(p: str, stage: StageChoices, act: str) -> None:
    for name, values in stage.choice_lists().items():
        if name == "mixed_kernels" and stage.mixed_kernels is None:
            continue
        _check_list(f"{p}.{name}", values)
    ops = set(stage.ops)
    for k in stage.kernels:
        _check_kernel(f"{p}.kernels", k)
    if "mdconv" in ops and not stage.mixed_kernels:
        _fail(f"{p}.mixed_kernels", "op 'mdconv' needs mixed kernel sets, e.g. [[3, 5], [3, 5, 7]]")
    if stage.mixed_kernels is not None and "mdconv" not in ops:
        _fail(f"{p}.mixed_kernels", "only used by op 'mdconv', which is not in ops")
    for j, kset in enumerate(stage.mixed_kernels or []):
        f = f"{p}.mixed_kernels[{j}]"
        if not kset or len(kset) > MAX_MIXED_SET:
            _fail(f, f"a kernel set has 1..{MAX_MIXED_SET} kernels")
        for k in kset:
            _check_kernel(f, k)
        if any(a >= b for a, b in zip(kset, kset[1:], strict=False)):
            _fail(f, f"kernels of a set must be strictly increasing, got {kset}")
        if len(kset) == 1 and "mbconv" in ops and kset[0] in stage.kernels:
            _fail(f, f"[{kset[0]}] is the same network as mbconv with kernel {kset[0]}; drop one of them")
    # Choices that no op can use would only inflate the space with duplicates: refuse them.
    if len(stage.kernels) > 1 and not ops & KERNEL_OPS:
        _fail(f"{p}.kernels", "only used by ops mbconv, ds and conv, none of which is in ops")
    if len(stage.expansions) > 1 and not ops & EXPANSION_OPS:
        _fail(f"{p}.expansions", "only used by ops mbconv and mdconv, none of which is in ops")
    if len(stage.se_ratios) > 1 and not ops & SE_OPS:
        _fail(f"{p}.se_ratios", "op 'conv' has no squeeze-and-excitation")
    if len(stage.partition) > 1 and not any(len(s) > 1 for s in stage.mixed_kernels or []):
        _fail(f"{p}.partition", "only matters for mdconv kernel sets of 2+ kernels, and there are none")
    for e in stage.expansions:
        if not 0 < e <= 16 or not math.isfinite(e):
            _fail(f"{p}.expansions", f"expansion ratios must be in (0, 16], got {e}")
    for s in stage.se_ratios:
        if not 0 <= s <= 1:
            _fail(f"{p}.se_ratios", f"SE ratios must be in [0, 1] (0 = no SE), got {s}")
    for d in stage.repeat_deltas:
        if stage.repeats + d < 1:
            _fail(f"{p}.repeat_deltas", f"repeats {stage.repeats} + delta {d} is below 1")
        if stage.repeats + d > 32:
            _fail(f"{p}.repeat_deltas", f"repeats {stage.repeats} + delta {d} is over 32")
    by_channels: dict[int, float] = {}
    for w in stage.width_multipliers:
        if not 0 < w <= 4:
            _fail(f"{p}.width_multipliers", f"width multipliers must be in (0, 4], got {w}")
        c = stage.channels(w)
        if c > MAX_STAGE_CHANNELS:
            msg = f"{w} x {stage.out_channels} = {c} channels, over {MAX_STAGE_CHANNELS}"
            _fail(f"{p}.width_multipliers", msg)
        if c in by_channels:
            _fail(
                f"{p}.width_multipliers",
                f"{by_channels[c]} and {w} both round to {c} channels (multiples of 8); drop one",
            )
        by_channels[c] = w
    if "default" in stage.activations and act in stage.activations:
        _fail(f"{p}.activations", f"'default' and {act!r} are the same (the skeleton's activation)")


def check_space(space: SearchSpace) -> None:
    """Check everything pydantic's field types do not.

    Raises:
        SpaceValidationError: The first problem found, naming the field path.
    """
    for i, stage in enumerate(space.stages):
        _check_stage(f"stages[{i}]", stage, space.skeleton.act)
    _check_list("resolutions", space.resolutions)
    _check_list("phis", space.phis)
    if space.stem_strides is not None:
        _check_list("stem_strides", space.stem_strides)
        for s in space.stem_strides:
            if s not in (1, 2):
                _fail("stem_strides", f"stem strides are 1 or 2, got {s}")
    for phi in space.phis:
        if not 0 <= phi <= MAX_PHI:
            _fail("phis", f"phi must be in 0..{MAX_PHI}, got {phi}")
    c = space.compound
    if len(space.phis) > 1 and c.alpha == c.beta == c.gamma == 1.0:
        _fail("compound", "with alpha = beta = gamma = 1 every phi gives the same network")
    from nas_service.space._codec import scaled

    for phi in space.phis:
        seen: dict[int, int] = {}
        for r in space.resolutions:
            res = scaled(space, r, phi)["resolution"]
            if not MIN_RESOLUTION <= res <= MAX_RESOLUTION:
                msg = f"{r} px at phi={phi} is {res} px, outside {MIN_RESOLUTION}..{MAX_RESOLUTION}"
                _fail("resolutions", msg)
            if res in seen:
                _fail("resolutions", f"{seen[res]} and {r} px give the same {res} px at phi={phi}")
            seen[res] = r
    stem_max = max(space.stem_strides or [space.skeleton.stem.stride])
    reduction = stem_max * math.prod(s.stride for s in space.stages)
    if min(space.resolutions) < reduction:
        msg = f"{min(space.resolutions)} px is smaller than the network's total stride {reduction}"
        _fail("resolutions", msg)
    depth = c.alpha ** max(space.phis)
    layers = sum(math.ceil((s.repeats + max(s.repeat_deltas)) * depth) for s in space.stages)
    if layers > MAX_TOTAL_LAYERS:
        _fail("stages", f"up to {layers} blocks after depth scaling, over {MAX_TOTAL_LAYERS}")
    total = sum(len(v) for s in space.stages for v in s.choice_lists().values())
    total += len(space.resolutions) + len(space.phis) + len(space.stem_strides or [])
    if total > MAX_TOTAL_CHOICES:
        _fail("stages", f"{total} choices in all, over {MAX_TOTAL_CHOICES}")
