"""Issue 10, item 7: user-supplied data paths stay under the data roots; errors carry no traceback.

A path outside the roots (after symlinks and ``..``) is refused with one message whether or not it exists, by the
API at submit and by a worker that has ``NAS_DATA_ROOTS`` set. A trial's or job's ``error`` is one line plus an
error id; the traceback is in the log under that id.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from nas_service.arch.spec import Architecture
from nas_service.errors import public_error
from nas_service.jobspec import LatencyConfig, ProxyConfig, TrialState
from nas_service.settings import Settings, get_settings
from nas_service.storage import SQLAlchemyStorage, TokenScope

JOBS = "/api/v1/jobs"


@pytest.fixture
def roots(tmp_path: Path) -> Path:
    """A data root with one real npz file, a symlink out of the root and a file outside it."""
    root = tmp_path / "datasets"
    root.mkdir()
    np.savez(root / "real.npz", x=np.zeros((8, 8, 8), dtype=np.float32), y=np.arange(8) % 2)
    (tmp_path / "secret.txt").write_text("not for users")
    (root / "escape.npz").symlink_to(tmp_path / "secret.txt")
    return root


@pytest.fixture
def client(storage: SQLAlchemyStorage, tmp_path: Path, roots: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings = Settings(data_dir=tmp_path / "data", data_roots=str(roots))
    with TestClient(create_app(settings, storage)) as c:
        yield c, {"Authorization": f"Bearer {storage.create_token('alice', TokenScope.USER).token}"}


def _job(path: str) -> dict[str, object]:
    return {"space": "digits", "proxy": {"dataset": "npz", "data_path": path}}


def test_paths_outside_the_roots_are_refused_alike(
    client: tuple[TestClient, dict[str, str]], roots: Path, tmp_path: Path
) -> None:
    c, alice = client
    replies = [
        c.post(JOBS, json=_job(path), headers=alice)
        for path in (
            "/etc/passwd",  # exists, outside
            "/etc/no-such-file-here",  # missing, outside
            str(tmp_path / "secret.txt"),  # exists, outside
            str(roots / ".." / "secret.txt"),  # '..' out of the root
            str(roots / "escape.npz"),  # a symlink in the root pointing out
            "../secret.txt",  # relative, out of the root
        )
    ]
    for r in replies:
        assert r.status_code == 422, r.text
    errors = {(r.json()["error"]["field"], r.json()["error"]["message"]) for r in replies}
    assert errors == {("proxy.data_path", "must be a path under the server's data roots (NAS_DATA_ROOTS)")}
    assert c.get(JOBS, headers=alice).json()["total"] == 0


def test_paths_under_the_roots_are_stored_resolved(client: tuple[TestClient, dict[str, str]], roots: Path) -> None:
    c, alice = client
    for path, stored in (
        (str(roots / "real.npz"), roots / "real.npz"),
        ("real.npz", roots / "real.npz"),  # relative to the first root
        (str(roots / "sub" / ".." / "missing.npz"), roots / "missing.npz"),  # missing but inside: the worker says
    ):
        r = c.post(JOBS, json=_job(path), headers=alice)
        assert r.status_code == 201, r.text
        assert r.json()["spec"]["proxy"]["data_path"] == str(stored.resolve())


def test_default_root_is_the_data_dirs_datasets_folder(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).resolved_data_roots() == [(tmp_path / "datasets").resolve()]
    assert Settings(data_dir=tmp_path, data_roots=f"/a:{tmp_path}").resolved_data_roots() == [
        Path("/a"),
        tmp_path.resolve(),
    ]


def test_a_worker_with_roots_refuses_alike(roots: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from workers.data import DatasetError, clear_dataset_cache, load_dataset

    monkeypatch.setenv("NAS_DATA_ROOTS", str(roots))
    get_settings.cache_clear()
    clear_dataset_cache()
    try:
        messages = set()
        for path in ("/etc/passwd", "/etc/no-such-file", str(roots / "escape.npz")):
            with pytest.raises(DatasetError) as info:
                load_dataset(ProxyConfig(dataset="npz", data_path=path, resolution=8))
            messages.add(str(info.value))
        assert len(messages) == 1 and "data roots" in messages.pop()
        assert load_dataset(ProxyConfig(dataset="npz", data_path=str(roots / "real.npz"), resolution=8)).num_classes
    finally:
        get_settings.cache_clear()


def test_a_failed_trial_stores_one_line_and_an_id(
    roots: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from workers.trial import NullReporter, TrialPayload, run_trial

    not_npz = roots / "notes.npz"
    not_npz.write_text("plain text, not an npz archive")
    arch = Architecture.from_block_strings([["ds_r1_k3_s1_c8"]], stem={"out_channels": 8}, head={"num_features": 16})
    proxy = ProxyConfig(dataset="npz", data_path=str(not_npz), resolution=8, epochs=1)
    payload = TrialPayload(trial_id="t", job_id="j", architecture=arch, proxy=proxy, latency=LatencyConfig())
    with caplog.at_level(logging.ERROR):
        result = run_trial(payload, NullReporter())
    assert result.state == TrialState.FAILED and result.error is not None
    assert "\n" not in result.error and "Traceback" not in result.error and len(result.error) < 400
    error_id = result.error.rsplit("error id ", 1)[1].rstrip(")")
    logged = [r for r in caplog.records if error_id in r.getMessage()]
    assert logged and logged[0].exc_info is not None  # the traceback is in the log, under the same id


def test_public_error_is_short() -> None:
    try:
        raise ValueError("first line\n  File '/srv/secret/path.py', line 3\n" + "x" * 1000)
    except ValueError as exc:
        message, error_id = public_error(exc)
    assert message == "ValueError: first line" and len(error_id) == 12
