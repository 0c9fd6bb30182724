"""SearchSpace as data: JSON/YAML round trips, presets, validation errors that name the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from nas_service.space import SearchSpace, SpaceValidationError, get_space, list_spaces, load_space

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "spaces"


def test_presets_are_registered() -> None:
    assert list_spaces() == ["digits", "mixnet", "mnasnet", "tiny"]
    with pytest.raises(KeyError, match="presets: digits"):
        get_space("nope")


def test_json_round_trip_is_lossless(preset: SearchSpace) -> None:
    text = preset.to_json()
    again = SearchSpace.from_json(text)
    assert again == preset
    assert again.to_json() == text


def test_yaml_round_trip(preset: SearchSpace) -> None:
    assert SearchSpace.from_yaml(preset.to_yaml()) == preset


def test_example_files_match_presets(preset: SearchSpace) -> None:
    path = EXAMPLES / f"{preset.name}.yaml"
    assert SearchSpace.from_file(path) == preset
    assert load_space(str(path)) == preset


def test_from_file_json(tmp_path: Path, tiny: SearchSpace) -> None:
    path = tmp_path / "tiny.json"
    path.write_text(tiny.to_json(indent=2))
    assert SearchSpace.from_file(path) == tiny


def _tiny_dict() -> dict[str, Any]:
    return json.loads(get_space("tiny").to_json())


def _error(data: Any) -> SpaceValidationError:
    with pytest.raises(SpaceValidationError) as info:
        SearchSpace.from_dict(data)
    return info.value


@pytest.mark.parametrize(
    ("path", "value", "field", "words"),
    [
        (("stages", 0, "kernels"), [3, 4], "stages[0].kernels", "odd"),
        (("stages", 0, "kernels"), [], "stages[0].kernels", "at least one"),
        (("stages", 0, "kernels"), [3, 3], "stages[0].kernels", "twice"),
        (("stages", 0, "kernels"), ["x"], "stages[0].kernels[0]", "integer"),
        (("stages", 1, "ops"), ["mbconv", "mdconv", "warp"], "stages[1].ops[2]", "mbconv"),
        (("stages", 1, "mixed_kernels"), None, "stages[1].mixed_kernels", "mdconv"),
        (("stages", 1, "mixed_kernels"), [[5, 3]], "stages[1].mixed_kernels[0]", "increasing"),
        (("stages", 1, "mixed_kernels"), [[3]], "stages[1].mixed_kernels[0]", "same network"),
        (("stages", 0, "mixed_kernels"), [[3, 5]], "stages[0].mixed_kernels", "not in ops"),
        (("stages", 0, "partition"), ["equal", "exponential"], "stages[0].partition", "2+"),
        (("stages", 0, "repeat_deltas"), [-1, 0], "stages[0].repeat_deltas", "below 1"),
        (("stages", 0, "width_multipliers"), [0.75, 1.0], "stages[0].width_multipliers", "both round"),
        (("stages", 0, "width_multipliers"), [600.0], "stages[0].width_multipliers", "(0, 4]"),
        (("stages", 0, "se_ratios"), [0.0, 2.0], "stages[0].se_ratios", "[0, 1]"),
        (("stages", 0, "expansions"), [1.0] * 17, "stages[0].expansions", "at most 16"),
        (("stages", 0, "activations"), ["default", "relu"], "stages[0].activations", "same"),
        (("stages", 0, "bogus"), 1, "stages[0].bogus", "unknown field"),
        (("resolutions",), [4], "resolutions", "outside"),
        (("resolutions",), [16, 2000], "resolutions", "outside"),
        (("resolutions",), [], "resolutions", "at least one"),
        (("stem_strides",), [3], "stem_strides", "1 or 2"),
        (("phis",), [0, 9], "phis", "0..8"),
        (("skeleton", "stem", "stride"), 3, "skeleton.stem.stride", "less than or equal"),
    ],
)
def test_validation_errors_name_the_field(path: tuple[Any, ...], value: Any, field: str, words: str) -> None:
    data = _tiny_dict()
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    err = _error(data)
    assert err.field == field
    assert words in err.message
    assert str(err).startswith(field + ": ")


def test_total_stride_and_depth_caps() -> None:
    data = _tiny_dict()
    data["resolutions"] = [8]  # 8 px fits a 4x reduction, not the 16x of a third stride-2 stage
    data["stages"][0]["stride"] = 2
    data["stages"].append(dict(data["stages"][1]))
    assert _error(data).field == "resolutions"
    data = _tiny_dict()
    data["stages"][0].update(repeats=30, repeat_deltas=[0, 2])
    data["stages"] = [data["stages"][0]] * 5
    err = _error(data)
    assert (err.field, "over 128" in err.message) == ("stages", True)


def test_unknown_top_level_field_and_not_a_mapping() -> None:
    data = _tiny_dict()
    data["colour"] = "blue"
    assert _error(data).field == "colour"
    assert "mapping" in _error(["a"]).message


def test_malformed_text_is_one_error() -> None:
    with pytest.raises(SpaceValidationError, match="invalid JSON"):
        SearchSpace.from_json("{")
    with pytest.raises(SpaceValidationError, match="invalid YAML"):
        SearchSpace.from_yaml("a: [")


def test_direct_construction_errors_also_name_the_field() -> None:
    with pytest.raises(ValidationError, match=r"stages\[0\]\.kernels: kernel sizes must be odd"):
        SearchSpace.model_validate({"name": "x", "stages": [{"out_channels": 8, "kernels": [2]}]})


def test_spaces_are_frozen(tiny: SearchSpace) -> None:
    with pytest.raises(ValidationError):
        tiny.name = "other"  # type: ignore[misc]
