"""``nas`` client commands that fail before or without a server: exit codes and one-line errors."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from nas_service.cli.main import app
from nas_service.client.testing import free_port

runner = CliRunner()


def test_unreachable_server_exits_4_without_traceback() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = runner.invoke(app, ["job", "list", "--url", url, "--token", "x"], env={"NAS_TOKEN": ""})
    assert result.exit_code == 4, result.output
    assert "connection" in result.output
    assert "Traceback" not in result.output


def test_missing_job_file_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["job", "submit", str(tmp_path / "nope.yaml"), "--url", "http://127.0.0.1:1"])
    assert result.exit_code == 2
    assert "cannot read" in result.output


def test_invalid_yaml_exits_2_with_position(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nstrategy: [unclosed\n")
    result = runner.invoke(app, ["job", "submit", str(bad), "--url", "http://127.0.0.1:1"])
    assert result.exit_code == 2
    assert "bad.yaml:" in result.output and "invalid YAML" in result.output


def test_invalid_field_exits_2_and_names_it(tmp_path: Path) -> None:
    job = tmp_path / "job.yaml"
    job.write_text("space: digits\nbudget:\n  max_trials: 0\n")
    result = runner.invoke(app, ["job", "submit", str(job), "--url", "http://127.0.0.1:1"])
    assert result.exit_code == 2, result.output
    assert "max_trials" in result.output
    assert "Traceback" not in result.output


def test_unknown_export_format_is_a_usage_error() -> None:
    result = runner.invoke(app, ["export", "1", "--format", "tflite"])
    assert result.exit_code == 2


def test_example_job_files_are_valid_job_requests() -> None:
    import yaml

    from nas_service.client._api import job_create_payload

    examples = Path(__file__).resolve().parents[2] / "examples"
    for name in ("job-digits.yaml", "job-scaling.yaml", "job-detection.yaml", "job-detection-scaling.yaml"):
        body = job_create_payload(yaml.safe_load((examples / name).read_text()), None, None, {})
        assert body["name"] and ("space" in body or body.get("kind") == "scaling" or body.get("task") == "detection")
