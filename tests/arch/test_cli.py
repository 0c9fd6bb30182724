"""``nas arch show``: human table, --json, file input, error exits, and no torch import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from nas_service.arch import get_preset
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


def test_show_preset_table(app: typer.Typer) -> None:
    code, out, _ = run(app, "efficientnet_b0")
    assert code == 0
    assert "5,288,548 params" in out and "385,814,752 MACs" in out
    assert "ir_r4_k5_s2_e6_c192_se0.25" in out and "stem" in out and "head" in out


def test_show_json(app: typer.Typer) -> None:
    code, out, _ = run(app, "mobilenetv3_large_100", "--json", "--resolution", "64", "--num-classes", "10")
    assert code == 0
    data = json.loads(out)
    assert data["resolution"] == 64 and data["architecture"]["num_classes"] == 10
    assert data["params"] == 5_483_032 - 990 * 1280 - 990
    assert data["block_strings"][-1] == ["cn_r1_k1_s1_c960"]
    assert sum(s["params"] for s in data["stages"]) < data["params"]
    assert data["architecture"]["se_gate"] == "hard_sigmoid"


@pytest.mark.parametrize(
    "text",
    [
        "ds_r1_k3_s1_c16 | ir_r2_k3_s2_e6_c24_se0.25, ir_r1_k5_s1_e6_c24 | cn_r1_k1_s1_c64",
        "ds_r1_k3_s1_c16;ir_r2_k3_s2_e6_c24_se0.25 ir_r1_k5_s1_e6_c24;cn_r1_k1_s1_c64",
    ],
)
def test_show_block_strings(app: typer.Typer, text: str) -> None:
    code, out, _ = run(app, text, "--json")
    assert code == 0
    data = json.loads(out)
    assert data["block_strings"] == [
        ["ds_r1_k3_s1_e1_c16"],
        ["ir_r2_k3_s2_e6_c24_se0.25", "ir_r1_k5_s1_e6_c24"],
        ["cn_r1_k1_s1_c64"],
    ]
    assert [s["repeats"] for s in data["stages"]] == [1, 2, 1, 1]


def test_show_json_file(app: typer.Typer, tmp_path: Path) -> None:
    arch = get_preset("mixnet_s")
    path = tmp_path / "arch.json"
    path.write_text(arch.model_dump_json())
    code, out, _ = run(app, str(path), "--json")
    assert code == 0 and json.loads(out)["params"] == 4_134_606
    # The --json output of the command is itself accepted.
    path2 = tmp_path / "shown.json"
    path2.write_text(out)
    code, out2, _ = run(app, str(path2), "--json")
    assert code == 0 and json.loads(out2)["architecture"] == json.loads(out)["architecture"]


def test_list(app: typer.Typer) -> None:
    code, out, _ = run(app, "--list")
    assert code == 0 and "mnasnet_b1" in out.split()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["efficientnet_b9"], "unknown preset 'efficientnet_b9'"),
        (["efficientnet_b9"], "valid presets: efficientnet_b0, efficientnet_b1"),
        (["ir_r1_k3_s1_q3_c16"], "'q3'"),
        (["ds_r1_k3_s1_c16 | | ir_r1_k3_s1_c16"], "empty stage"),
        (["cn_r1_k3_s1_c16_se0.25"], "cn blocks have no squeeze-excite"),
        (["missing.json"], "no such file"),
        ([], "give a preset name"),
    ],
)
def test_errors_exit_2(app: typer.Typer, args: list[str], fragment: str) -> None:
    code, out, err = run(app, *args)
    assert code == 2
    assert fragment in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err + out


def test_bad_json_file(app: typer.Typer, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, _, err = run(app, str(bad))
    assert code == 2 and "cannot read" in err
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"stages": [[{"type": "ir", "out_channels": 0}]]}))
    code, _, err = run(app, str(wrong))
    assert code == 2 and "invalid architecture: stages.0.0.out_channels" in err


def test_show_does_not_import_torch() -> None:
    code = (
        "import sys, typer\n"
        "from typer.testing import CliRunner\n"
        "from nas_service.cli import arch_cmd\n"
        "app = typer.Typer()\n"
        "app.command('noop')(lambda: None)\n"
        "arch_cmd.register(app)\n"
        "r = CliRunner().invoke(app, ['arch', 'show', 'efficientnet_b7', '--json'])\n"
        "assert r.exit_code == 0, r.output\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
