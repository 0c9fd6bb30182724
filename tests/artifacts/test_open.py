"""Choosing the store (``NAS_ARTIFACT_STORE``) and saving trial weights the way the dispatcher does."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from nas_service.artifacts import (
    DatabaseArtifactStore,
    FileSystemArtifactStore,
    artifact_store_for,
    save_trial_weights,
    trial_weights_key,
)
from nas_service.settings import Settings, get_settings
from nas_service.storage import SQLAlchemyStorage


def test_the_setting_picks_the_store_and_database_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NAS_ARTIFACT_STORE", raising=False)
    assert Settings().artifact_store == "database"
    monkeypatch.setenv("NAS_ARTIFACT_STORE", "filesystem")
    assert Settings().artifact_store == "filesystem"


def test_stores_beside_a_storage(storage: SQLAlchemyStorage, tmp_path: Path) -> None:
    db = artifact_store_for(storage, tmp_path, "database")
    fs = artifact_store_for(storage, tmp_path, "filesystem")
    assert isinstance(db, DatabaseArtifactStore) and db.engine is storage.engine  # the same database, no new pool
    assert isinstance(fs, FileSystemArtifactStore) and fs.root == tmp_path / "artifacts"
    assert artifact_store_for(storage, tmp_path, "database") is db  # cached per storage
    with pytest.raises(ValueError, match="unknown artifact store"):
        artifact_store_for(storage, tmp_path, "s3")  # type: ignore[arg-type]


def test_save_trial_weights_follows_the_setting(
    storage: SQLAlchemyStorage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NAS_ARTIFACT_STORE", "filesystem")
    get_settings.cache_clear()
    try:
        assert save_trial_weights(storage, tmp_path, 3, b"weights")
    finally:
        get_settings.cache_clear()
    assert (tmp_path / "artifacts" / "trials" / "3" / "weights.pt").read_bytes() == b"weights"
    assert save_trial_weights(storage, tmp_path, 3, b"in the db", kind="database")
    assert artifact_store_for(storage, tmp_path, "database").get(trial_weights_key(3)) == b"in the db"


def test_a_failed_save_is_logged_not_raised(
    storage: SQLAlchemyStorage, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("x")  # the filesystem store cannot make <data_dir>/artifacts under a file
    with caplog.at_level(logging.WARNING, logger="nas_service.artifacts._open"):
        assert save_trial_weights(storage, blocked, 5, b"w", kind="filesystem") is False
    assert "trial 5: cannot store its weights" in caplog.text
