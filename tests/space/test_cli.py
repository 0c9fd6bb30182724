"""``nas space show`` and ``nas space validate`` (local, no torch)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from nas_service.cli.main import app
from nas_service.space import get_space

runner = CliRunner()


def test_show_preset_table() -> None:
    result = runner.invoke(app, ["space", "show", "tiny", "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert "tiny" in result.output and "cardinality 48" in result.output
    assert "stage 0:" in result.output and "params," in result.output and "MACs" in result.output


def test_show_json(tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    path.write_text(get_space("digits").to_yaml())
    result = runner.invoke(app, ["space", "show", str(path), "--json", "--seed", "3"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    space = get_space("digits")
    assert data["cardinality"] == space.cardinality()
    assert data["sample"]["params"] == space.sample(3)
    assert data["sample"]["block_strings"] == space.decode(space.sample(3)).block_strings()
    assert data["sample"]["param_count"] > 0 and data["sample"]["macs"] > 0
    assert list(data["parameters"]) == list(space.parameters())


def test_validate_ok(tmp_path: Path) -> None:
    path = tmp_path / "tiny.json"
    path.write_text(get_space("tiny").to_json())
    result = runner.invoke(app, ["space", "validate", str(path)])
    assert result.exit_code == 0
    assert result.output.strip() == "OK: tiny: cardinality 48 (10^1.68)"


def test_validate_names_the_field_and_exits_2(tmp_path: Path) -> None:
    data = json.loads(get_space("tiny").to_json())
    data["stages"][1]["kernels"] = [3, 6]
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps(data))  # JSON is YAML too
    result = runner.invoke(app, ["space", "validate", str(path)])
    assert result.exit_code == 2
    assert "stages[1].kernels" in result.output and "odd" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_errors_are_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    for args in (
        ["space", "validate", str(tmp_path / "missing.yaml")],
        ["space", "validate", str(broken)],
        ["space", "show", "nope"],
        ["space", "show"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, args
        assert result.output.startswith("error: ") and len(result.output.strip().splitlines()) == 1, (
            result.output
        )
        assert result.exception is None or isinstance(result.exception, SystemExit)
