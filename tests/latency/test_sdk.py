"""The SDK's latency methods against a live controller (uvicorn on 127.0.0.1, real SQLite)."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Iterator
from pathlib import Path

import pytest

from nas_service.client import AsyncClient, Client, ConflictError, NotFoundError, ValidationError
from nas_service.latency import LatencyTarget
from nas_service.testing import LiveServer


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(Path(tmp_path_factory.mktemp("latency-sdk"))).start()
    yield server
    server.stop()


def test_sync_target_methods(live: LiveServer) -> None:
    with Client(url=live.url, token=live.token, timeout=10) as nas:
        assert [t.name for t in nas.latency_targets()][0] == "local-cpu"
        created = nas.create_latency_target(LatencyTarget(name="sdk-ort", runtime="onnxruntime", threads=2))
        assert created.runtime == "onnxruntime" and not created.builtin
        assert nas.update_latency_target("sdk-ort", threads=3).threads == 3
        assert nas.latency_target("sdk-ort").threads == 3
        with pytest.raises(ValidationError) as err:
            nas.create_latency_target({"name": "bad", "threads": -1})
        assert err.value.field == "threads"
        with pytest.raises(ConflictError):
            nas.create_latency_target({"name": "sdk-ort"})
        with pytest.raises(ConflictError, match="not_profiled|no latency predictor"):
            nas.predict_latency("sdk-ort", "mnasnet_a1")
        assert nas.latency_predictor("sdk-ort").table_entries == 0
        nas.delete_latency_target("sdk-ort")
        with pytest.raises(NotFoundError):
            nas.latency_target("sdk-ort")


def test_async_lists_targets(live: LiveServer) -> None:
    async def run() -> list[str]:
        async with AsyncClient(url=live.url, token=live.token, timeout=10) as nas:
            return [t.name for t in await nas.latency_targets()]

    # In a thread of its own: a browser test earlier in the session may leave an event loop on this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        assert pool.submit(asyncio.run, run()).result()[0] == "local-cpu"
