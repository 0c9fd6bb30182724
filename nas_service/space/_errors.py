"""The search-space error type and the conversion of pydantic errors into it."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError


class SpaceValidationError(ValueError):
    """A search space (or a parameter assignment) is invalid.

    Attributes:
        field: Path of the offending field, e.g. ``stages[2].kernels``, or a parameter name (``s0.kernel``).
        message: What is wrong, without the field.
    """

    def __init__(self, field: str, message: str):
        """Create the error; ``str(err)`` is ``"<field>: <message>"``."""
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


def loc_to_path(loc: Sequence[int | str]) -> str:
    """Format a pydantic error location as a path: ``("stages", 2, "kernels")`` -> ``stages[2].kernels``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def from_pydantic(exc: ValidationError) -> SpaceValidationError:
    """Turn the first error of a pydantic :class:`ValidationError` into a :class:`SpaceValidationError`."""
    err = exc.errors()[0]
    ctx = err.get("ctx") or {}
    inner = ctx.get("error")
    if isinstance(inner, SpaceValidationError):
        return SpaceValidationError(inner.field, inner.message)
    path = loc_to_path(err.get("loc", ()))
    msg = str(err.get("msg", "invalid"))
    if err.get("type") == "extra_forbidden":
        msg = "unknown field"
    extra = len(exc.errors()) - 1
    if extra > 0:
        msg += f" (and {extra} more error{'s' if extra > 1 else ''})"
    return SpaceValidationError(path, msg)
