"""A live controller for the CLI tests (the real app on SQLite, served by uvicorn on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nas_service.testing import LiveServer


@pytest.fixture(scope="package")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("cli")).start()
    yield server
    server.stop()
