"""One JSON error shape for every failure: ``{"error": {"code", "message", "field"?}}``.

Validation errors (422) carry the path of the first failing field: the request part (``body``) is dropped, so
a body field reads ``budget.max_trials``; query, path and header parameters keep their part (``query.limit``).
Unexpected exceptions become a 500 with a generic message; the stack trace goes to the log, never the client.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from nas_service.limits import LimitError
from nas_service.storage import (
    ConflictError,
    IntegrityError,
    InvalidValueError,
    NotFoundError,
    SchemaOutOfDate,
    StorageError,
)

log = logging.getLogger("nas_service.api")

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    503: "unavailable",
}


class ApiError(Exception):
    """An error with an HTTP status, a stable code and an optional field; rendered as the JSON error shape."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Create the error (``headers`` are added to the reply, e.g. ``WWW-Authenticate``)."""
        super().__init__(message)
        self.status, self.code, self.message, self.field, self.headers = status, code, message, field, headers


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    """The JSON error shape."""
    detail: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        detail["field"] = field
    return {"error": detail}


def field_path(loc: Sequence[int | str]) -> str:
    """``("body", "budget", "max_trials")`` -> ``budget.max_trials``; ``("query", "limit")`` is kept."""
    parts = [str(p) for p in loc]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts) or "body"


#: ``latency.mode: ...``: a model-level check's message names the field at its start.
_NAMED_FIELD = re.compile(r"^([a-z_]+(?:\.[a-z0-9_]+)*): ")


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content=body, headers=headers)


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return _json(exc.status, error_body(exc.code, exc.message, exc.field), exc.headers)


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if not errors:
        return _json(422, error_body("validation_error", "invalid request"))
    first = errors[0]
    if first.get("type") == "json_invalid":  # the same 400 as the routes that parse their own body
        reason = (first.get("ctx") or {}).get("error", "malformed JSON")
        return _json(400, error_body("bad_request", f"invalid JSON: {str(reason)[:300]}", "body"))
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    field = field_path(first.get("loc", ()))
    named = _NAMED_FIELD.match(message)
    if named is not None and field == "body":  # a check across fields: its message starts with the one to fix
        field = named.group(1)
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more)"
    return _json(422, error_body("validation_error", message, field))


async def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "error" if exc.status_code < 500 else "internal_error")
    headers = getattr(exc, "headers", None)
    return _json(exc.status_code, error_body(code, str(exc.detail)), headers)


async def _storage(_: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, NotFoundError):
        return _json(404, error_body("not_found", str(exc)))
    if isinstance(exc, ConflictError | IntegrityError):
        return _json(409, error_body("conflict", str(exc)))
    if isinstance(exc, InvalidValueError):
        return _json(422, error_body("invalid_value", str(exc)[:500]))
    if isinstance(exc, SchemaOutOfDate):
        return _json(503, error_body("schema_out_of_date", str(exc)))
    log.error("storage error: %s", exc, exc_info=exc)
    return _json(503, error_body("unavailable", "the database is unavailable; try again later"))


async def _limit(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LimitError)
    return _json(422, error_body("validation_error", exc.message[:500], exc.field or "body"))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _json(500, error_body("internal_error", "internal server error"))


def install_error_handlers(app: FastAPI) -> None:
    """Register every handler on ``app``."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(StorageError, _storage)
    app.add_exception_handler(LimitError, _limit)
    app.add_exception_handler(Exception, _unexpected)


def not_found(kind: str, ident: int) -> ApiError:
    """The 404 for an object that is missing or someone else's (the two are indistinguishable)."""
    return ApiError(404, "not_found", f"{kind} {ident} not found")
