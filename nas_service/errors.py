"""User-visible errors: a short message plus an error id; the traceback goes to the server's log only.

A job's or trial's ``error`` field is read by whoever owns the job. A Python traceback there names server paths,
library versions and, for a bad data file, whether a path exists; so the stored text is one line (the exception
type and the first line of its message, capped) and an id, and the full traceback is logged under the same id
for the operator (``grep <id>`` in the server, dispatcher or Ray worker log).
"""

from __future__ import annotations

import logging
import secrets

log = logging.getLogger("nas_service.errors")

#: Longest message kept (before the error id is appended).
MAX_MESSAGE_CHARS = 300


def new_error_id() -> str:
    """A short random id that ties a user-visible error to its log record."""
    return secrets.token_hex(6)


def short_message(exc: BaseException, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``"Type: first line of the message"``, at most ``limit`` characters, no traceback.

    A pydantic ``ValidationError`` (whose first line only counts its errors) gives its first error instead:
    ``"ValidationError: resolution: <what is wrong>"``, so the field is named.
    """
    errors = getattr(exc, "errors", None)
    if type(exc).__name__ == "ValidationError" and callable(errors):
        try:
            first = errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            text = f"{type(exc).__name__}: {where + ': ' if where else ''}{first.get('msg', '')}".strip()
            return text if len(text) <= limit else text[: limit - 3] + "..."
        except (IndexError, TypeError, AttributeError):
            pass  # not pydantic's: the generic form below
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0].strip()}" if lines else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def public_error(exc: BaseException, context: str = "", logger: logging.Logger | None = None) -> tuple[str, str]:
    """Log ``exc`` with its traceback under a new error id; return ``(message, error_id)`` for users.

    Args:
        exc: The exception.
        context: What was being done (``"trial 12"``), for the log line.
        logger: Where to log (default ``nas_service.errors``).

    Returns:
        The short message (see :func:`short_message`) and the id logged with the traceback.
    """
    error_id = new_error_id()
    (logger or log).error(
        "error %s%s: %s", error_id, f" ({context})" if context else "", short_message(exc), exc_info=exc
    )
    return short_message(exc), error_id


def public_error_text(exc: BaseException, context: str = "", logger: logging.Logger | None = None) -> str:
    """:func:`public_error` as the one string stored in an ``error`` field: ``"<message> (error id <id>)"``."""
    message, error_id = public_error(exc, context, logger)
    return f"{message} (error id {error_id})"
