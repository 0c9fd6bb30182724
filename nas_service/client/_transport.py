"""Transport pieces shared by the sync and async clients: configuration, retry policy, decoding, SSE parsing.

Nothing here does I/O on its own; :mod:`._sync` and :mod:`._async` drive it with ``httpx.Client`` and
``httpx.AsyncClient`` so both clients retry, decode and fail the same way.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from nas_service.client._errors import ConnectionFailed, NasError, ServerError, error_from_response

#: Statuses worth retrying: a proxy or the server said "not now". Never a 4xx: those will not change.
RETRY_STATUSES = frozenset({502, 503, 504})
#: Methods safe to resend after the request may have reached the server (read timeout, dropped connection).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
API_PREFIX = "/api/v1"
USER_AGENT = "nas-service-sdk"


@dataclass(frozen=True)
class ClientConfig:
    """Resolved connection settings of a client."""

    url: str
    token: str | None
    timeout: float
    retries: int


def resolve_config(url: str | None, token: str | None, timeout: float, retries: int) -> ClientConfig:
    """Fill ``url`` and ``token`` from the environment when not given.

    Order: the explicit argument, then ``NAS_API_URL`` / ``NAS_TOKEN`` (via
    :class:`nas_service.settings.Settings`), then, for the token only, the admin token the embedded
    controller writes to ``<data_dir>/admin-token``.

    Args:
        url: Base URL of the controller (``http://host:port``), or ``None``.
        token: Bearer token, or ``None``.
        timeout: Per-request timeout in seconds.
        retries: Retries after the first attempt (connection errors and 502/503/504 only).

    Returns:
        The resolved configuration.
    """
    from nas_service.settings import Settings

    settings = Settings()  # fresh, not the cached one: the environment may have changed since
    resolved_url = (url or settings.api_url).rstrip("/")
    if resolved_url.endswith(API_PREFIX):
        resolved_url = resolved_url[: -len(API_PREFIX)]
    resolved_token = token or settings.token or _read_admin_token(settings.data_dir)
    return ClientConfig(url=resolved_url, token=resolved_token, timeout=timeout, retries=max(0, retries))


def _read_admin_token(data_dir: Path) -> str | None:
    try:
        text = (data_dir / "admin-token").read_text().strip()
    except OSError:
        return None
    return text or None


def default_headers(config: ClientConfig) -> dict[str, str]:
    """Headers sent with every request."""
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if config.token:
        headers["Authorization"] = f"Bearer {config.token}"
    return headers


@dataclass
class RetryPolicy:
    """Exponential backoff with jitter, for connection errors and 502/503/504 only.

    Attributes:
        retries: Retries after the first attempt.
        backoff: First delay in seconds; doubles every retry.
        max_backoff: Cap of one delay (also caps a server's ``Retry-After``).
    """

    retries: int = 3
    backoff: float = 0.25
    max_backoff: float = 8.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to sleep before retry number ``attempt`` (0-based)."""
        if retry_after:
            try:
                return min(max(float(retry_after), 0.0), self.max_backoff)
            except ValueError:
                pass  # an HTTP-date: fall back to our own schedule
        ceiling = min(self.backoff * (2**attempt), self.max_backoff)
        # "Equal jitter": never less than half the schedule, so retries stay spread but do not collapse to 0.
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    def should_retry_exception(self, exc: httpx.TransportError, method: str) -> bool:
        """Whether a transport error may be retried for ``method``.

        A connect error means the request never left, so any method is safe; a failure after sending (read
        timeout, dropped connection) is retried only for idempotent methods: a job is never submitted twice.
        """
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
            return True
        return method.upper() in IDEMPOTENT_METHODS

    @staticmethod
    def should_retry_status(status: int) -> bool:
        """Whether a response status may be retried (502/503/504 only)."""
        return status in RETRY_STATUSES


def connection_failed(exc: httpx.TransportError, url: str) -> ConnectionFailed:
    """The SDK exception for a transport error that survived the retries."""
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
    return ConnectionFailed(f"connection to {url} {kind}: {exc or type(exc).__name__}", code="connection_failed")


def decode_response(response: httpx.Response) -> Any:
    """The JSON body of a successful response, or raise the typed error of a failed one.

    Raises:
        NasError: A subclass matching the status when the response is not 2xx.
    """
    if response.is_success:
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise ServerError(
                f"server sent a non-JSON body for {response.request.url}", status=response.status_code
            ) from exc
    try:
        body = response.json()
    except ValueError:
        body = None
    raise error_from_response(response.status_code, body, response.text if body is None else "")


@dataclass(frozen=True)
class ServerEvent:
    """One server-sent event.

    Attributes:
        event: The ``event:`` name (``message`` when absent), e.g. ``job`` or ``trial``.
        data: The ``data:`` payload (lines joined by ``\\n``).
        id: The ``id:`` of this event, or of the last event that set one.
        retry: A reconnection delay in milliseconds the server asked for, if any.
    """

    event: str
    data: str
    id: str | None = None
    retry: int | None = None

    def json(self) -> Any:
        """The payload decoded as JSON (``None`` for an empty payload)."""
        return json.loads(self.data) if self.data else None


class SseDecoder:
    """Incremental parser of a ``text/event-stream`` (WHATWG rules), fed one line at a time."""

    def __init__(self, last_event_id: str | None = None) -> None:
        self.last_event_id = last_event_id
        self._event = ""
        self._data: list[str] = []
        self._retry: int | None = None

    def feed(self, line: str) -> ServerEvent | None:
        """Consume a line (without its terminator); return an event when a blank line completes one."""
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None  # a comment (keep-alive ping)
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> ServerEvent | None:
        if not self._data and not self._event:
            self._retry = None
            return None
        event = ServerEvent(
            event=self._event or "message",
            data="\n".join(self._data),
            id=self.last_event_id,
            retry=self._retry,
        )
        self._event, self._data, self._retry = "", [], None
        return event


def iter_sse(lines: Iterator[str], decoder: SseDecoder) -> Iterator[ServerEvent]:
    """Events from an iterator of lines."""
    for line in lines:
        event = decoder.feed(line.rstrip("\r"))
        if event is not None:
            yield event


def page_params(limit: int, offset: int, **filters: Any) -> dict[str, Any]:
    """Query parameters for one page, dropping filters that are ``None``."""
    params = {"limit": limit, "offset": offset}
    params.update({k: (v.value if hasattr(v, "value") else v) for k, v in filters.items() if v is not None})
    return params


def ensure_nas_error(exc: BaseException) -> NasError:
    """Wrap anything unexpected so callers only ever catch :class:`NasError`."""
    return exc if isinstance(exc, NasError) else NasError(str(exc) or type(exc).__name__)
