"""``nas arch show`` on detectors: the per-part table, --json, JSON files, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from nas_service.arch import get_detection_preset
from nas_service.cli import arch_cmd


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()

    @app.command("version")
    def _version() -> None:  # a second command keeps "arch" a sub-group
        pass

    arch_cmd.register(app)
    return app


def run(app: typer.Typer, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["arch", "show", *args])
    return result.exit_code, result.stdout, result.stderr


def test_show_d0_table(app: typer.Typer) -> None:
    code, out, _ = run(app, "efficientdet_d0")
    assert code == 0
    assert "3,880,067 params" in out and "at 512x512" in out
    for part, params in (("backbone", "3,595,388"), ("bifpn", "196,281"), ("class_head", "69,354")):
        assert part in out and params in out
    assert "box_head" in out and "P7 4x4" in out


def test_show_json(app: typer.Typer) -> None:
    code, out, _ = run(app, "efficientdet_d0", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["kind"] == "detection" and data["params"] == 3_880_067
    assert sum(p["params"] for p in data["parts"].values()) == data["params"]
    assert sum(p["macs"] for p in data["parts"].values()) == data["macs"]
    assert [lv["size"] for lv in data["levels"]] == [64, 32, 16, 8, 4]
    assert data["architecture"]["num_classes"] == 90


def test_show_overrides_and_file(app: typer.Typer, tmp_path: Path) -> None:
    code, out, _ = run(app, "efficientdet_d1", "--json", "-r", "256", "-n", "10")
    data = json.loads(out)
    assert code == 0 and data["resolution"] == 256 and data["architecture"]["num_classes"] == 10
    path = tmp_path / "det.json"
    path.write_text(json.dumps({"architecture": data["architecture"]}))
    code, out2, _ = run(app, str(path), "--json")
    assert code == 0 and json.loads(out2)["params"] == data["params"]


def test_list_includes_detectors(app: typer.Typer) -> None:
    code, out, _ = run(app, "--list")
    assert code == 0 and "efficientdet_d7x" in out and "efficientnet_b0" in out


def test_bad_resolution_is_one_line(app: typer.Typer) -> None:
    code, _, err = run(app, "efficientdet_d0", "-r", "500")
    assert code == 2
    assert err.strip().count("\n") == 0 and "resolution" in err and "not divisible by 2**max_level" in err


def test_bad_backbone_file(app: typer.Typer, tmp_path: Path) -> None:
    data = get_detection_preset("efficientdet_d0").model_dump(mode="json")
    data["backbone"]["stages"] = data["backbone"]["stages"][:3]
    path = tmp_path / "short.json"
    path.write_text(json.dumps(data))
    code, _, err = run(app, str(path))
    assert code == 2 and "backbone: no stage ends at stride 16" in err and "Traceback" not in err


def scale(app: typer.Typer, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["arch", "scale-detection", *args])
    return result.exit_code, result.stdout, result.stderr


def test_scale_detection_table(app: typer.Typer) -> None:
    code, out, _ = scale(app, "--phis", "0-7")
    assert code == 0 and "efficientdet_d7" in out and "3,880,067" in out and "51,871,782" in out
    code, out, _ = scale(app, "--rule", "formula", "--base", "efficientdet_d0", "--phis", "0,2", "--json")
    rows = json.loads(out)
    assert code == 0 and [r["fpn_channels"] for r in rows] == [64, 120] and rows[1]["resolution"] == 768


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--phis", "9"], "phi: the D-table covers 0..7"),
        (["--phis", "x"], "--phis"),
        (["--rule", "formula"], "--base"),
        (["--rule", "other"], "--rule"),
    ],
)
def test_scale_detection_errors(app: typer.Typer, args: list[str], message: str) -> None:
    code, _, err = scale(app, *args)
    assert code == 2 and message in err and err.strip().count("\n") == 0
