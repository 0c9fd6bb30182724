"""``nas db`` and ``nas token`` commands, and the API process staying free of torch and ray."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nas_service.cli.main import app
from nas_service.storage import SQLAlchemyStorage, TokenScope
from nas_service.storage.schema import head_revision

runner = CliRunner()


def test_db_upgrade_current_and_token_create(db_url: str) -> None:
    behind = runner.invoke(app, ["db", "current", "--url", db_url])
    assert behind.exit_code == 1 and "nas db upgrade" in behind.output
    assert runner.invoke(app, ["db", "upgrade", "--url", db_url]).exit_code == 0
    current = runner.invoke(app, ["db", "current", "--url", db_url])
    assert current.exit_code == 0 and head_revision() in current.output
    created = runner.invoke(app, ["token", "create", "--owner", "ci", "--scope", "admin", "--url", db_url])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    store = SQLAlchemyStorage(db_url)
    try:
        record = store.verify_token(token)
        assert record is not None and record.scope == TokenScope.ADMIN and record.owner == "ci"
    finally:
        store.close()
    bad = runner.invoke(app, ["token", "create", "--owner", "ci", "--scope", "worker", "--url", db_url])
    assert bad.exit_code != 0


def test_api_import_does_not_load_torch_or_ray() -> None:
    code = "import sys, api.app; api.app.create_app(); print(sorted({'torch', 'ray'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("NAS_METRICS_TOKEN", "short", "NAS_METRICS_TOKEN: String should have at least 16 characters"),
        ("NAS_ARTIFACT_STORE", "s3", "NAS_ARTIFACT_STORE: Input should be 'database' or 'filesystem'"),
    ],
)
def test_a_bad_setting_is_one_line_and_exit_2(tmp_path: Path, variable: str, value: str, message: str) -> None:
    env = {**os.environ, "NAS_DATA_DIR": str(tmp_path), variable: value}
    done = subprocess.run(
        [sys.executable, "-m", "nas_service.cli.main", "serve", "--port", "1"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert done.returncode == 2 and done.stderr.strip() == f"error: invalid setting {message}", done.stderr
