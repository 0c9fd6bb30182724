"""Parameters, decode/encode, canonicalize, cardinality and the grid."""

from __future__ import annotations

import itertools
import json
import math

import pytest

from nas_service.arch.spec import Architecture
from nas_service.space import NO_MIXED, SearchSpace, SpaceValidationError, get_space

STAGE_KEYS = ["op", "kernel", "mixed", "partition", "expansion", "se", "repeat_delta", "width", "act", "skip"]


def test_parameter_names_are_stable_and_json_scalar(preset: SearchSpace) -> None:
    params = preset.parameters()
    expected = [f"s{i}.{k}" for i in range(len(preset.stages)) for k in STAGE_KEYS]
    assert list(params) == expected + ["stem_stride", "resolution", "phi"]
    for name, choices in params.items():
        assert choices, name
        for c in choices:
            assert isinstance(c, str | int | float | bool), (name, c)
        assert json.loads(json.dumps(choices)) == choices
    assert preset.vector_spec() == [(k, len(v)) for k, v in params.items()]


def test_decode_encode_identity_on_samples(preset: SearchSpace) -> None:
    for seed in range(60):
        params = preset.sample(seed)
        arch = preset.decode(params)
        assert isinstance(arch, Architecture)
        assert Architecture.model_validate_json(arch.model_dump_json()) == arch
        assert Architecture.from_block_strings(arch.block_strings()).stages == arch.stages
        assert preset.encode(arch) == params
        assert preset.canonicalize(params) == params
        assert preset.from_vector(preset.to_vector(params)) == params


def test_encode_survives_block_strings(tiny: SearchSpace) -> None:
    arch = tiny.decode(tiny.sample(3))
    rebuilt = Architecture.from_block_strings(
        arch.block_strings(), **arch.model_dump(exclude={"stages", "name"})
    )
    assert tiny.encode(rebuilt) == tiny.sample(3)


def test_cardinality_equals_grid_and_distinct_networks(tiny: SearchSpace) -> None:
    grid = list(tiny.grid())
    assert tiny.cardinality() == len(grid) == 48
    assert len({json.dumps(p, sort_keys=True) for p in grid}) == 48
    assert len({tiny.decode(p).arch_hash() for p in grid}) == 48
    assert all(tiny.canonicalize(p) == p for p in grid)
    assert tiny.raw_cardinality() == math.prod(len(v) for v in tiny.parameters().values()) == 96
    assert math.isclose(tiny.log10_cardinality(), math.log10(48))


def test_cardinality_brute_force_over_raw_assignments(tiny: SearchSpace) -> None:
    params = tiny.parameters()
    canon = set()
    for combo in itertools.product(*params.values()):
        p = tiny.canonicalize(dict(zip(params, combo, strict=True)))
        canon.add(json.dumps(p, sort_keys=True))
    assert len(canon) == tiny.cardinality()


def test_grid_refuses_large_spaces() -> None:
    with pytest.raises(ValueError, match="over max_points"):
        get_space("digits").grid(max_points=1000)


def test_preset_cardinalities() -> None:
    assert get_space("digits").cardinality() == 17_915_904
    assert 14 < get_space("mnasnet").log10_cardinality() < 15
    assert 11 < get_space("mixnet").log10_cardinality() < 12


def test_inactive_parameters_are_ignored_and_normalised(tiny: SearchSpace) -> None:
    base = tiny.sample(0) | {"s0.op": "ds", "s0.kernel": 5}
    a = tiny.decode(base | {"s0.expansion": 3.0})
    b = tiny.decode(base | {"s0.expansion": 6.0})
    assert a == b
    assert tiny.canonicalize(base | {"s0.expansion": 6.0})["s0.expansion"] == 3.0
    assert "s0.expansion" not in tiny.active(base)
    mb = base | {"s1.op": "mbconv", "s1.partition": "exponential"}
    assert tiny.canonicalize(mb)["s1.partition"] == "equal"
    md = base | {"s1.op": "mdconv", "s1.partition": "exponential"}
    assert tiny.decode(md).stages[1][0].exponential_partition
    assert tiny.decode(md).stages[1][0].kernel_sizes == [3, 5]
    assert tiny.canonicalize(base)["s0.mixed"] == NO_MIXED


def test_decode_block_types() -> None:
    tiny = get_space("tiny")
    base = tiny.sample(0)
    types = {op: tiny.decode(base | {"s0.op": op}).stages[0][0] for op in ("mbconv", "ds", "conv")}
    assert [types[o].type for o in ("mbconv", "ds", "conv")] == ["ir", "ds", "cn"]
    assert types["conv"].se_ratio is None and types["ds"].expansion == 1.0


def test_missing_parameters(tiny: SearchSpace) -> None:
    minimal = {"s0.op": "conv", "s0.kernel": 3, "s1.op": "mbconv", "resolution": 24}
    arch = tiny.decode(minimal)
    assert arch.resolution == 24
    with pytest.raises(SpaceValidationError) as info:
        tiny.decode({"s0.op": "conv"})
    assert info.value.field == "s0.kernel" and "missing" in info.value.message


def test_bad_parameters_name_the_parameter(tiny: SearchSpace) -> None:
    p = tiny.sample(0)
    for bad, field in [
        (p | {"s0.kernel": 7}, "s0.kernel"),
        (p | {"s9.op": "ds"}, "s9.op"),
        (p | {"s0.skip": 1}, "s0.skip"),
        (p | {"resolution": "16"}, "resolution"),
    ]:
        with pytest.raises(SpaceValidationError) as info:
            tiny.decode(bad)
        assert info.value.field == field
    # Integers are accepted for float choices and kernel lists for mixed sets.
    assert tiny.canonicalize(p | {"s0.expansion": 6}) == tiny.canonicalize(p | {"s0.expansion": 6.0})
    assert tiny.canonicalize(p | {"s1.op": "mdconv", "s1.mixed": [3, 5]})["s1.mixed"] == "3.5"


def test_encode_refuses_foreign_architectures(tiny: SearchSpace) -> None:
    arch = tiny.decode(tiny.sample(0))
    cases = [
        (arch.model_copy(update={"stages": arch.stages[:1]}), "stages"),
        (arch.model_copy(update={"resolution": 32}), "resolution"),
        (arch.model_copy(update={"num_classes": 7}), "num_classes"),
        (
            arch.model_copy(update={"stem": arch.stem.model_copy(update={"out_channels": 16})}),
            "stem.out_channels",
        ),
    ]
    wide = arch.stages[0][0].model_copy(update={"out_channels": 24})
    cases.append((arch.model_copy(update={"stages": [[wide], arch.stages[1]]}), "stages[0].out_channels"))
    conv = tiny.decode(tiny.sample(0) | {"s0.op": "conv"})
    with_se = conv.stages[0][0].model_copy(update={"se_ratio": 0.25})
    cases.append((conv.model_copy(update={"stages": [[with_se], conv.stages[1]]}), "stages[0][0].se_ratio"))
    for foreign, field in cases:
        with pytest.raises(SpaceValidationError, match="not in this space") as info:
            tiny.encode(foreign)
        assert info.value.field == field


def test_compound_scaling_choices() -> None:
    data = json.loads(get_space("tiny").to_json())
    data["phis"] = [0, 1, 2]
    space = SearchSpace.from_dict(data)
    p = space.sample(0) | {"phi": 2, "resolution": 16}
    arch = space.decode(p)
    assert (arch.width_multiplier, arch.depth_multiplier, arch.resolution) == (1.21, 1.44, 24)
    assert space.encode(arch) == space.canonicalize(p)
    assert space.cardinality() == 3 * get_space("tiny").cardinality()


def test_digits_networks_are_small() -> None:
    from nas_service.arch import count_params  # analytic, no torch

    space = get_space("digits")
    counts = [count_params(space.decode(space.sample(seed))) for seed in range(100)]
    assert min(counts) > 15_000 and max(counts) < 220_000
