"""Typed exceptions raised by the SDK; every failure the server reports maps onto one of them."""

from __future__ import annotations

from typing import Any


class NasError(Exception):
    """Base of every SDK error.

    Attributes:
        status: HTTP status of the response, or ``None`` when no response came back.
        code: Machine-readable error code from the server's ``{"error": {"code": ...}}`` body.
        message: Human-readable message.
        field: Dotted path of the offending request field, when the server named one.
    """

    def __init__(
        self, message: str, *, status: int | None = None, code: str | None = None, field: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or "error"
        self.message = message
        self.field = field

    def __str__(self) -> str:
        where = f" (field: {self.field})" if self.field else ""
        return f"{self.message}{where}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, message={self.message!r})"


class AuthError(NasError):
    """The token is missing, wrong, or not allowed to do this (401/403)."""


class NotFoundError(NasError):
    """The space, job or trial does not exist (404)."""


class ConflictError(NasError):
    """The request clashes with the resource's state, e.g. cancelling a finished job (409)."""


class ValidationError(NasError):
    """The request was refused as invalid (400/422); ``field`` names the offending field when known."""


class ServerError(NasError):
    """The server failed (5xx), after retries where retrying was allowed."""


class ConnectionFailed(NasError):
    """No response: the server could not be reached, or it did not answer in time, after all retries."""


_BY_STATUS: dict[int, type[NasError]] = {
    400: ValidationError,
    401: AuthError,
    403: AuthError,
    404: NotFoundError,
    409: ConflictError,
    422: ValidationError,
}


def _field_from_detail(detail: Any) -> str | None:
    """FastAPI's default 422 body lists ``loc`` paths; keep the first one without the ``body`` prefix."""
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        loc = [str(p) for p in detail[0].get("loc", []) if p not in ("body", "query", "path")]
        return ".".join(loc) or None
    return None


def error_from_response(status: int, body: Any, fallback_text: str = "") -> NasError:
    """Build the typed exception for an error response.

    Args:
        status: The HTTP status code.
        body: The decoded JSON body, or ``None`` when it was not JSON.
        fallback_text: Raw body text, used as the message when the body has no ``error`` object.

    Returns:
        An instance of the :class:`NasError` subclass that matches ``status``.
    """
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else NasError)
    code: str | None = None
    field: str | None = None
    message = fallback_text.strip()[:500] or f"HTTP {status}"
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            code = err.get("code")
            message = str(err.get("message") or message)
            field = err.get("field")
        elif "detail" in body:
            detail = body["detail"]
            field = _field_from_detail(detail)
            if isinstance(detail, list) and detail and isinstance(detail[0], dict):
                message = str(detail[0].get("msg", message))
            else:
                message = str(detail)
    return cls(message, status=status, code=code, field=field)
