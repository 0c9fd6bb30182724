"""``nas latency``: targets, bad input (one line, exit code naming the field), measure and predict for real."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nas_service.cli.main import app


@pytest.fixture
def run(tmp_path: Path) -> object:
    runner = CliRunner()
    db = f"sqlite:///{tmp_path / 'nas.db'}"

    def invoke(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(app, ["latency", *args, "--db", db])
        return result.exit_code, result.stdout, result.stderr

    return invoke


def test_targets_list_add_remove(run) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run("targets", "--json")
    assert code == 0 and [t["name"] for t in json.loads(out)] == ["local-cpu"]
    code, _, _ = run("target-add", "edge", "--runtime", "onnxruntime", "--threads", "2", "--resource", "latency:edge")
    assert code == 0
    code, out, _ = run("targets", "--json")
    edge = json.loads(out)[1]
    assert edge["name"] == "edge" and edge["runtime"] == "onnxruntime" and edge["resource"] == "latency:edge"
    code, out, _ = run("targets")
    assert code == 0 and "edge" in out and "local-cpu *" in out
    assert run("target-rm", "edge")[0] == 0
    code, _, err = run("target-rm", "local-cpu")
    assert code == 1 and "built-in" in err


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (("target-add", "x", "--threads", "-1"), 2, "threads:"),
        (("target-add", "x", "--runtime", "tflite"), 2, "runtime:"),
        (("target-add", "Bad Name"), 2, "name:"),
        (("measure", "nope", "mnasnet_a1"), 3, "not found"),
        (("predict", "local-cpu", "not_a_preset"), 2, "architecture:"),
        (("predict", "local-cpu", "efficientnet_b7", "-r", "1024", "--no-measure"), 2, "architecture:"),
    ],
)
def test_bad_input_is_one_line_with_its_exit_code(run, args: tuple[str, ...], code: int, needle: str) -> None:  # type: ignore[no-untyped-def]
    got, _, err = run(*args)
    assert got == code and needle in err and len(err.strip().splitlines()) == 1, err


def test_profile_predict_measure_for_real(run) -> None:  # type: ignore[no-untyped-def]
    args = ("target-add", "ort", "--runtime", "onnxruntime", "--warmup", "2", "--repeats", "10")
    assert run(*args)[0] == 0
    code, out, err = run("profile", "ort", "--space", "digits", "--n", "6", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert {"within_10pct", "mape", "kendall_tau", "n_train", "n_test"} <= report.keys()
    assert report["n_train"] + report["n_test"] == 6 and 0 <= report["within_10pct"] <= 1
    blocks = "ds_r1_k3_s1_c16 | ir_r2_k5_s2_e6_c24 | ir_r1_k3_s2_e3_c40_se0.25"
    code, out, err = run("predict", "ort", blocks, "-r", "24", "--json")
    assert code == 0, err
    predicted = json.loads(out)
    assert predicted["predicted_ms"] > 0 and predicted["uncertainty_ms"] > 0 and predicted["missing_parts"] == 0
    assert predicted["measured_parts"] > 0  # parts no profiled network had, measured here on demand
    code, out, err = run("measure", "ort", blocks, "-r", "24", "--json")
    assert code == 0, err
    measured = json.loads(out)
    assert measured["measured_ms"] > 0 and measured["cv"] >= 0 and measured["runtime"] == "onnxruntime"
    assert measured["learned"] == measured["stable"]
