"""Request-size limit: a pure ASGI middleware that answers 413 before a huge body is read into memory."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Default cap on a request body. The largest legitimate one is a final trial report with 100,000 latency
#: samples (about 2 MB of JSON).
MAX_BODY_BYTES = 4 * 1024 * 1024


class BodySizeLimit:
    """Refuse bodies over ``max_bytes`` with a 413: by ``Content-Length`` up front, else while reading.

    A body without a length (``Transfer-Encoding: chunked``) is read here, chunk by chunk, before the app sees
    it; over the cap the reading stops and the client gets the 413. (Raising from inside the app's ``receive``
    instead would be caught by FastAPI's body parsing and turned into a 400.)
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        """Wrap ``app``."""
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass through, or answer 413."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit() or int(length) > self.max_bytes:
                await self._reject(send)
                return
            await self.app(scope, receive, send)  # the server never delivers more than Content-Length
            return
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: let the app see it
                break
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                await self._reject(send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return message
            return await receive()

        await self.app(scope, replay, send)

    async def _reject(self, send: Send) -> None:
        body: dict[str, Any] = {
            "error": {"code": "payload_too_large", "message": f"request body over {self.max_bytes} bytes"}
        }
        payload = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": payload})
