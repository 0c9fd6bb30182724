"""``nas`` client commands that fail before or without a server: exit codes and one-line errors."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from nas_service.cli.main import app
from nas_service.testing import free_port

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
    from nas_service.schemas import JobCreate

    examples = Path(__file__).resolve().parents[2] / "examples"
    for name in ("job-digits.yaml", "job-scaling.yaml", "job-detection.yaml", "job-detection-scaling.yaml",
                 "job-netadapt.yaml"):  # fmt: skip
        body = job_create_payload(yaml.safe_load((examples / name).read_text()), None, None, {})
        assert body["name"] and (
            "space" in body or body.get("kind") in ("scaling", "netadapt") or body.get("task") == "detection"
        )
        JobCreate.model_validate(body).to_spec()  # the server's own model accepts it


def test_a_connection_error_says_how_to_start_the_server_and_wraps_only_between_words() -> None:
    import sys

    url = f"http://127.0.0.1:{free_port()}"
    result = runner.invoke(app, ["job", "list", "--url", url, "--token", "x"], env={"COLUMNS": "80"})
    assert result.exit_code == 4, result.output
    # CliRunner runs with argv[0] of pytest: the hint names a command that works from here.
    assert f"is `nas serve` running? start it with: {sys.executable} -m nas_service.cli.main serve" in result.output
    assert "\n" not in result.output.strip()  # one line: the terminal wraps it, never a newline inside a word


def test_the_hint_names_nas_only_when_nas_on_the_path_is_this_program(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from nas_service.cli.exitcodes import nas_command

    script = tmp_path / "venv" / "bin" / "nas"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.chdir(tmp_path)
    assert nas_command("venv/bin/nas") == "venv/bin/nas"  # not on the PATH: the path it was started by
    monkeypatch.setenv("PATH", f"{script.parent}:/usr/bin:/bin")
    assert nas_command("venv/bin/nas") == "nas"
    assert nas_command(str(script)) == "nas"


def test_flags_show_no_value_type_in_help() -> None:
    result = runner.invoke(app, ["job", "submit", "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    lines = {line.split()[1]: line for line in result.output.splitlines() if line.strip().startswith("│ --")}
    for flag in ("--wait", "--force", "--json", "--help"):
        assert "<bool>" not in lines[flag], lines[flag]
    assert "<str>" in lines["--url"]  # options that take a value still say which
