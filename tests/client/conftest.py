"""A live controller (the real app on a real SQLite database, served by uvicorn on 127.0.0.1) for SDK tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nas_service.client import Client
from nas_service.testing import LiveServer


@pytest.fixture(scope="package")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("sdk")).start()
    yield server
    server.stop()


@pytest.fixture
def client(live: LiveServer) -> Iterator[Client]:
    with Client(url=live.url, token=live.token, timeout=10) as c:
        yield c
