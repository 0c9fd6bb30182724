"""The SDK's transport layer against a scripted local HTTP server: retries, typed errors, SSE parsing."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from nas_service.client import (
    AuthError,
    Client,
    ConflictError,
    ConnectionFailed,
    NasError,
    NotFoundError,
    RetryPolicy,
    ServerError,
    ValidationError,
)
from nas_service.client._transport import SseDecoder, iter_sse


class ScriptedServer:
    """A real HTTP server on 127.0.0.1 answering from a list of ``(status, body)``; records every request."""

    def __init__(self, script: list[tuple[int, object]]) -> None:
        self.script = list(script)
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                outer.requests.append((self.command, self.path, dict(self.headers)))
                status, body = outer.script.pop(0) if outer.script else (200, {"ok": True})
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer([])
    yield srv
    srv.close()


def fast_client(url: str, retries: int = 3) -> Client:
    client = Client(url=url, token="t0k", retries=retries, timeout=5)
    client.retry_policy.backoff = 0.01  # keep the test quick; the schedule itself is tested below
    return client


def err(code: str, message: str, field: str | None = None) -> dict[str, object]:
    body: dict[str, object] = {"code": code, "message": message}
    if field:
        body["field"] = field
    return {"error": body}


def test_retries_503_then_succeeds(server: ScriptedServer) -> None:
    server.script = [(503, err("unavailable", "busy")), (502, err("bad_gateway", "x")), (200, {"v": 1})]
    with fast_client(server.url) as client:
        assert client.request("GET", "/thing") == {"v": 1}
    assert len(server.requests) == 3
    assert all(h.get("Authorization") == "Bearer t0k" for _, _, h in server.requests)
    assert server.requests[0][1] == "/api/v1/thing"


def test_gives_up_after_retries_with_server_error(server: ScriptedServer) -> None:
    server.script = [(504, err("timeout", "upstream"))] * 3
    with fast_client(server.url, retries=2) as client, pytest.raises(ServerError) as info:
        client.request("GET", "/thing")
    assert info.value.status == 504
    assert len(server.requests) == 3


@pytest.mark.parametrize(
    ("status", "exc_type"),
    [
        (400, ValidationError),
        (401, AuthError),
        (403, AuthError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, ValidationError),
        (500, ServerError),
    ],
)
def test_4xx_and_500_are_typed_and_never_retried(server: ScriptedServer, status: int, exc_type: type[NasError]) -> None:
    server.script = [(status, err("some_code", "went wrong", field="spec.budget.max_trials"))]
    with fast_client(server.url) as client, pytest.raises(exc_type) as info:
        client.request("POST", "/jobs", json={})
    assert len(server.requests) == 1
    assert info.value.status == status
    assert info.value.code == "some_code"
    assert info.value.message == "went wrong"
    assert info.value.field == "spec.budget.max_trials"
    assert isinstance(info.value, NasError)


def test_fastapi_style_detail_names_the_field(server: ScriptedServer) -> None:
    detail = {"detail": [{"loc": ["body", "spec", "budget", "max_trials"], "msg": "too big", "type": "x"}]}
    server.script = [(422, detail)]
    with fast_client(server.url) as client, pytest.raises(ValidationError) as info:
        client.request("POST", "/jobs", json={})
    assert info.value.field == "spec.budget.max_trials"


def test_connection_refused_is_connection_failed() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    with fast_client(f"http://127.0.0.1:{port}", retries=1) as client, pytest.raises(ConnectionFailed):
        client.request("GET", "/jobs")


def test_backoff_schedule_grows_with_jitter_and_honours_retry_after() -> None:
    import random

    policy = RetryPolicy(retries=5, backoff=0.5, max_backoff=4.0, rng=random.Random(1))
    delays = [policy.delay(i) for i in range(6)]
    for i, d in enumerate(delays):
        ceiling = min(0.5 * 2**i, 4.0)
        assert ceiling / 2 <= d <= ceiling
    assert policy.delay(0, retry_after="2") == 2.0
    assert policy.delay(0, retry_after="600") == 4.0
    assert policy.should_retry_status(503) and not policy.should_retry_status(429)


def test_post_is_not_resent_after_a_read_timeout() -> None:
    import httpx

    policy = RetryPolicy()
    assert policy.should_retry_exception(httpx.ConnectError("x"), "POST")
    assert not policy.should_retry_exception(httpx.ReadTimeout("x"), "POST")
    assert policy.should_retry_exception(httpx.ReadTimeout("x"), "GET")


def test_token_falls_back_to_the_embedded_admin_token(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("NAS_TOKEN", raising=False)
    monkeypatch.setenv("NAS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("NAS_API_URL", "http://127.0.0.1:1/api/v1/")
    (tmp_path / "admin-token").write_text("from-file\n")
    with Client() as client:
        assert client.config.token == "from-file"
        assert client.config.url == "http://127.0.0.1:1"
    monkeypatch.setenv("NAS_TOKEN", "from-env")
    with Client() as client:
        assert client.config.token == "from-env"


def test_sse_decoder_follows_the_spec() -> None:
    lines = [
        ": keep-alive",
        "id: 7",
        "event: trial",
        'data: {"id": 1,',
        'data:  "state": "completed"}',
        "",
        "retry: 1500",
        "",
        "event: job",
        "data: {}",
        "",
        "data: no-event-name",
        "",
    ]
    events = list(iter_sse(iter(lines), SseDecoder()))
    assert [e.event for e in events] == ["trial", "job", "message"]
    assert events[0].json() == {"id": 1, "state": "completed"}
    assert events[0].id == "7" and events[1].id == "7"  # the id sticks until the server sets another
    assert events[2].data == "no-event-name"


def test_importing_the_sdk_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = "import sys, nas_service.client, nas_service.export; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
