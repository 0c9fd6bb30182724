"""API test fixtures: the app on a real migrated database (SQLite and Postgres), tokens for several callers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.testing import Api
from nas_service.settings import Settings
from nas_service.storage import SQLAlchemyStorage, TokenScope


def _bearer(storage: SQLAlchemyStorage, owner: str, scope: TokenScope = TokenScope.USER) -> dict[str, str]:
    return {"Authorization": f"Bearer {storage.create_token(owner, scope).token}"}


@pytest.fixture
def api(storage: SQLAlchemyStorage, tmp_path: Path) -> Iterator[Api]:
    """The app (injected storage, SSE polling fast) inside a running ``TestClient``."""
    app = create_app(Settings(data_dir=tmp_path / "data"), storage)
    app.state.sse_poll_s = 0.02
    with TestClient(app) as client:
        yield Api(
            client=client,
            storage=storage,
            alice=_bearer(storage, "alice"),
            bob=_bearer(storage, "bob"),
            admin=_bearer(storage, "root", TokenScope.ADMIN),
        )
