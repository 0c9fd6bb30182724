"""Parameters of a space, and the decoding of an assignment into an :class:`Architecture` (and back).

Every stage ``i`` contributes ten parameters, ``s{i}.op``, ``s{i}.kernel``, ``s{i}.mixed``,
``s{i}.partition``, ``s{i}.expansion``, ``s{i}.se``, ``s{i}.repeat_delta``, ``s{i}.width``, ``s{i}.act``,
``s{i}.skip``, and the network three: ``stem_stride``, ``resolution``, ``phi``. Some are conditional; the
inactive ones are ignored:

- ``kernel`` only for ops ``mbconv``, ``ds``, ``conv``; ``mixed`` only for ``mdconv``;
- ``partition`` only for ``mdconv`` with a set of 2+ kernels;
- ``expansion`` only for ``mbconv``/``mdconv``; ``se`` not for ``conv``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from nas_service.arch.spec import Architecture, BlockSpec
from nas_service.space._errors import SpaceValidationError
from nas_service.space._model import EXPANSION_OPS, KERNEL_OPS, SE_OPS

if TYPE_CHECKING:
    from nas_service.space._model import SearchSpace, StageChoices

#: Choice of ``s{i}.mixed`` in a stage without ``mdconv`` (the parameter exists in every stage; here it is
#: always inactive).
NO_MIXED = "none"
STAGE_KEYS = ("op", "kernel", "mixed", "partition", "expansion", "se", "repeat_delta", "width", "act", "skip")
GLOBAL_KEYS = ("stem_stride", "resolution", "phi")
_MISSING = object()


def mixed_name(kernels: list[int]) -> str:
    """The parameter value of a mixed kernel set: ``[3, 5, 7]`` -> ``"3.5.7"``."""
    return ".".join(str(k) for k in kernels)


def mixed_kernels(value: str) -> list[int]:
    """Inverse of :func:`mixed_name`."""
    return [int(k) for k in value.split(".")]


def stage_parameters(stage: StageChoices) -> dict[str, list[Any]]:
    """The ten choice lists of one stage, keyed without the ``s{i}.`` prefix."""
    return {
        "op": list(stage.ops),
        "kernel": list(stage.kernels),
        "mixed": [mixed_name(s) for s in stage.mixed_kernels] if stage.mixed_kernels else [NO_MIXED],
        "partition": list(stage.partition),
        "expansion": list(stage.expansions),
        "se": list(stage.se_ratios),
        "repeat_delta": list(stage.repeat_deltas),
        "width": list(stage.width_multipliers),
        "act": list(stage.activations),
        "skip": list(stage.skip),
    }


def global_parameters(space: SearchSpace) -> dict[str, list[Any]]:
    """The network-level choice lists."""
    return {
        "stem_stride": list(space.stem_strides or [space.skeleton.stem.stride]),
        "resolution": list(space.resolutions),
        "phi": list(space.phis),
    }


def parameters(space: SearchSpace) -> dict[str, list[Any]]:
    """All parameters in stable order: stages first (``s0.op`` .. ``s0.skip``, ``s1.op`` ..), then globals."""
    out: dict[str, list[Any]] = {}
    for i, stage in enumerate(space.stages):
        for key, values in stage_parameters(stage).items():
            out[f"s{i}.{key}"] = values
    out.update(global_parameters(space))
    return out


def stage_active(op: str, mixed: str) -> tuple[str, ...]:
    """Keys (no prefix) that matter for a stage with this op and mixed value."""
    keys = ["op"]
    if op in KERNEL_OPS:
        keys.append("kernel")
    if op == "mdconv":
        keys.append("mixed")
        if "." in mixed:
            keys.append("partition")
    if op in EXPANSION_OPS:
        keys.append("expansion")
    if op in SE_OPS:
        keys.append("se")
    keys += ["repeat_delta", "width", "act", "skip"]
    return tuple(keys)


def _match(name: str, value: Any, choices: list[Any]) -> Any:
    """The choice equal to ``value`` (ints accepted for floats; bools only for bools), else an error."""
    if name.endswith(".mixed") and isinstance(value, list | tuple) and all(isinstance(k, int) for k in value):
        value = mixed_name(list(value))
    for c in choices:
        if isinstance(c, bool) or isinstance(value, bool):
            if isinstance(c, bool) and isinstance(value, bool) and c == value:
                return c
        elif isinstance(c, str) or isinstance(value, str):
            if c == value:
                return c
        elif isinstance(value, int | float) and c == value:
            return c
    raise SpaceValidationError(name, f"{value!r} is not one of the choices {choices}")


def canonicalize(space: SearchSpace, params: dict[str, Any]) -> dict[str, Any]:
    """Complete and normalise ``params``: values become the space's choice objects, inactive ones the first.

    Missing parameters are allowed when they are inactive or have a single choice.

    Raises:
        SpaceValidationError: Not a mapping, an unknown name, a missing active name, or a value not among
            the choices.
    """
    if not isinstance(params, dict):
        raise SpaceValidationError("", f"parameters must be a mapping, got {type(params).__name__}")
    dists = parameters(space)
    for name in params:
        if name not in dists:
            raise SpaceValidationError(str(name), f"unknown parameter of space {space.name!r}")
    given = {name: _match(name, v, dists[name]) for name, v in params.items()}
    out: dict[str, Any] = {}

    def take(name: str, active: bool) -> Any:
        choices = dists[name]
        value = given.get(name, _MISSING)
        if not active:
            return choices[0]
        if value is _MISSING:
            if len(choices) == 1:
                return choices[0]
            raise SpaceValidationError(name, f"missing (choices {choices})")
        return value

    for i in range(len(space.stages)):
        p = f"s{i}."
        op = take(p + "op", True)
        mixed = take(p + "mixed", op == "mdconv")
        active = stage_active(op, mixed)
        for key in STAGE_KEYS:
            out[p + key] = op if key == "op" else mixed if key == "mixed" else take(p + key, key in active)
    for key in GLOBAL_KEYS:
        out[key] = take(key, True)
    return out


def _block(stage: StageChoices, values: dict[str, Any]) -> BlockSpec:
    op = values["op"]
    act = values["act"]
    fields: dict[str, Any] = {
        "repeats": stage.repeats + values["repeat_delta"],
        "stride": stage.stride,
        "out_channels": stage.channels(values["width"]),
        "act": None if act == "default" else act,
        "skip": values["skip"],
    }
    if op in SE_OPS and values["se"] > 0:
        fields["se_ratio"] = values["se"]
    if op == "mdconv":
        kernels = mixed_kernels(values["mixed"])
        fields.update(type="ir", kernel_sizes=kernels, expansion=values["expansion"])
        fields["exponential_partition"] = len(kernels) > 1 and values["partition"] == "exponential"
    else:
        fields["kernel_sizes"] = [values["kernel"]]
        if op == "mbconv":
            fields.update(type="ir", expansion=values["expansion"])
        else:
            fields["type"] = "ds" if op == "ds" else "cn"
    return BlockSpec(**fields)


def scaled(space: SearchSpace, resolution: int, phi: int) -> dict[str, Any]:
    """Resolution and multipliers of a (resolution, phi) choice.

    Same rule as :func:`nas_service.arch.scaling.scale_architecture`: multipliers ``beta**phi``/``alpha**phi``
    rounded to 6 decimals, resolution ``resolution * gamma**phi`` rounded to a multiple of 8 (unchanged at 0).
    """
    c = space.compound
    if phi == 0:
        return {"resolution": resolution, "width_multiplier": 1.0, "depth_multiplier": 1.0}
    return {
        "resolution": max(1, round(resolution * c.gamma**phi / 8)) * 8,
        "width_multiplier": round(c.beta**phi, 6),
        "depth_multiplier": round(c.alpha**phi, 6),
    }


def decode(space: SearchSpace, params: dict[str, Any]) -> Architecture:
    """The network of ``params`` (see :meth:`SearchSpace.decode`)."""
    p = canonicalize(space, params)
    stages = []
    for i, stage in enumerate(space.stages):
        values = {key: p[f"s{i}.{key}"] for key in STAGE_KEYS}
        stages.append([_block(stage, values)])
    sk = space.skeleton
    return Architecture(
        name=space.name,
        stages=stages,
        stem=sk.stem.model_copy(update={"stride": p["stem_stride"]}),
        head=sk.head,
        num_classes=sk.num_classes,
        in_channels=sk.in_channels,
        act=sk.act,
        se_from_expanded=sk.se_from_expanded,
        se_gate=sk.se_gate,
        dropout=sk.dropout,
        drop_path=sk.drop_path,
        **scaled(space, p["resolution"], p["phi"]),
    )


def _not_in_space(field: str, message: str) -> SpaceValidationError:
    return SpaceValidationError(field, f"not in this space: {message}")


def _encode_stage(i: int, stage: StageChoices, blocks: list[BlockSpec]) -> dict[str, Any]:
    f = f"stages[{i}]"
    if len(blocks) != 1:
        raise _not_in_space(f, f"has {len(blocks)} block strings, the space makes one per stage")
    b = blocks[0]
    v: dict[str, Any] = {}
    if b.type == "ir":
        single = len(b.kernel_sizes) == 1
        if single and "mbconv" in stage.ops and b.kernel_sizes[0] in stage.kernels:
            v.update(op="mbconv", kernel=b.kernel_sizes[0])
        else:
            v.update(op="mdconv", mixed=mixed_name(b.kernel_sizes))
            v["partition"] = "exponential" if b.exponential_partition else "equal"
        v["expansion"] = b.expansion
    else:
        v.update(op="ds" if b.type == "ds" else "conv", kernel=b.kernel_sizes[0])
    v["se"] = b.se_ratio or 0.0
    v["repeat_delta"] = b.repeats - stage.repeats
    widths = [w for w in stage.width_multipliers if stage.channels(w) == b.out_channels]
    if not widths:
        raise _not_in_space(
            f"{f}.out_channels", f"{b.out_channels} is no width choice of {stage.out_channels} channels"
        )
    v["width"] = widths[0]
    v["act"] = b.act or "default"
    v["skip"] = b.skip
    return v


def encode(space: SearchSpace, arch: Architecture) -> dict[str, Any]:
    """Canonical parameters of ``arch`` (see :meth:`SearchSpace.encode`)."""
    if len(arch.stages) != len(space.stages):
        raise _not_in_space("stages", f"{len(arch.stages)} stages, the space has {len(space.stages)}")
    params: dict[str, Any] = {}
    for i, (stage, blocks) in enumerate(zip(space.stages, arch.stages, strict=True)):
        values = _encode_stage(i, stage, blocks)
        active = stage_active(values["op"], values.get("mixed", NO_MIXED))
        dists = stage_parameters(stage)
        for key in STAGE_KEYS:
            if key in active:
                try:
                    params[f"s{i}.{key}"] = _match(f"s{i}.{key}", values[key], dists[key])
                except SpaceValidationError as exc:
                    raise _not_in_space(f"stages[{i}]", f"{key} {exc.message}") from None
    want_scaling = {
        "resolution": arch.resolution,
        "width_multiplier": arch.width_multiplier,
        "depth_multiplier": arch.depth_multiplier,
    }
    scalings = [
        (r, phi) for r in space.resolutions for phi in space.phis if scaled(space, r, phi) == want_scaling
    ]
    if not scalings:
        raise _not_in_space(
            "resolution",
            f"resolution {arch.resolution} with width x{arch.width_multiplier} and depth "
            f"x{arch.depth_multiplier} matches no (resolution, phi) choice",
        )
    params["resolution"], params["phi"] = scalings[0]
    params["stem_stride"] = arch.stem.stride
    try:
        params = canonicalize(space, params)
    except SpaceValidationError as exc:
        raise _not_in_space(exc.field, exc.message) from None
    again = decode(space, params)
    want = arch.model_dump(mode="json", exclude={"name"})
    got = again.model_dump(mode="json", exclude={"name"})
    for field, a, b in _differences(want, got):
        raise _not_in_space(field, f"{_short(a)} differs from the space's {_short(b)}")
    return params


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _differences(a: Any, b: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """Leaf-level differences of two JSON-like values, as (field path, a, b)."""
    if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
        for key in a:
            yield from _differences(a[key], b[key], f"{path}.{key}" if path else key)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and path.count("[") < 2:
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from _differences(x, y, f"{path}[{i}]")
    elif a != b:
        yield path, a, b


def _stage_count(stage: StageChoices) -> int:
    k, e, s = len(stage.kernels), len(stage.expansions), len(stage.se_ratios)
    per_op = {
        "mbconv": k * e * s,
        "mdconv": sum(len(stage.partition) if len(m) > 1 else 1 for m in stage.mixed_kernels or []) * e * s,
        "ds": k * s,
        "conv": k,
    }
    common = math.prod(
        len(v) for v in (stage.repeat_deltas, stage.width_multipliers, stage.activations, stage.skip)
    )
    return common * sum(per_op[op] for op in stage.ops)


def cardinality(space: SearchSpace) -> int:
    """Exact number of canonical assignments, which is the number of distinct networks."""
    globals_ = math.prod(len(v) for v in global_parameters(space).values())
    return globals_ * math.prod(_stage_count(s) for s in space.stages)


def active_names(space: SearchSpace, params: dict[str, Any]) -> list[str]:
    """Names of the active parameters of ``params`` (after canonicalization), in parameter order."""
    p = canonicalize(space, params)
    out = []
    for i in range(len(space.stages)):
        active = stage_active(p[f"s{i}.op"], p[f"s{i}.mixed"])
        out += [f"s{i}.{k}" for k in STAGE_KEYS if k in active]
    return out + list(GLOBAL_KEYS)
