"""The ``store`` fixture: every artifact-store backend (filesystem; database on SQLite and on Postgres)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nas_service.artifacts import BaseArtifactStore, DatabaseArtifactStore, FileSystemArtifactStore


@pytest.fixture(params=["database", "filesystem"])
def store(request: pytest.FixtureRequest, migrated_url: str, tmp_path: Path) -> Iterator[BaseArtifactStore]:
    """An empty artifact store per backend (the filesystem one runs beside each database too: it must not care)."""
    if request.param == "filesystem":
        yield FileSystemArtifactStore(tmp_path / "artifacts")
        return
    from nas_service.storage import SQLAlchemyStorage

    storage = SQLAlchemyStorage(migrated_url)
    try:
        yield DatabaseArtifactStore(storage.engine)
    finally:
        storage.close()
