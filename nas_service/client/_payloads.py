"""Turn what a caller hands the SDK (models, dicts, YAML text) into request bodies."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from nas_service.client._errors import ValidationError


def as_plain(value: Any) -> Any:
    """A JSON-ready value: pydantic models are dumped, everything else is returned as is."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    return value


def load_yaml_text(text: str, what: str) -> Any:
    """Parse YAML (JSON is YAML too); a syntax error becomes a :class:`ValidationError`."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ValidationError(f"{what} is not valid YAML{where}: {getattr(exc, 'problem', exc)}") from exc


def space_body(space: Any) -> dict[str, Any]:
    """The search-space definition as a dict, from a model, a dict or YAML/JSON text."""
    if isinstance(space, str):
        space = load_yaml_text(space, "the search space")
    body = as_plain(space)
    if not isinstance(body, dict):
        raise ValidationError("a search space must be a mapping", field="space")
    return body


def validation_error_from_pydantic(exc: Exception, prefix: str = "") -> ValidationError:
    """A pydantic ``ValidationError`` as the SDK's, naming the first failing field."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0] if errors() else {}
        loc = ".".join(str(p) for p in first.get("loc", ()))
        field = f"{prefix}.{loc}".strip(".") if loc else prefix or None
        msg = first.get("msg", str(exc))
        return ValidationError(f"{field}: {msg}" if field else str(msg), field=field, code="invalid")
    return ValidationError(str(exc))


def parse_model(model: type[BaseModel], data: Any) -> Any:
    """Validate a server reply into a schema model (lenient: unknown extra fields never fail a client)."""
    return model.model_validate(data)
