"""Search-space checks for the API: validation, cardinality and request-body parsing (JSON or YAML)."""

from __future__ import annotations

import json
import math
from typing import Any

import yaml
from pydantic import ValidationError

from api.errors import ApiError
from nas_service.fitcheck import FitReport
from nas_service.jobspec import JobSpec
from nas_service.schemas import JobCreate, SpaceError, SpaceValidation

#: Cardinalities above this are reported as strings (JSON numbers lose precision beyond 2**53).
_EXACT_INT = 2**53
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


def check_space(body: dict[str, Any]) -> SpaceValidation:
    """Validate a space document with :class:`nas_service.space.SearchSpace`; never raises."""
    from nas_service.space import SearchSpace, SpaceValidationError

    try:
        space = SearchSpace.from_dict(body)
        log10 = float(space.log10_cardinality())
        card = int(space.cardinality())
    except SpaceValidationError as exc:
        return SpaceValidation(valid=False, errors=[SpaceError(field=exc.field or "space", message=exc.message)])
    except (ValidationError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        return SpaceValidation(valid=False, errors=[SpaceError(field="space", message=str(exc)[:500])])
    if not math.isfinite(log10):
        log10 = float("1e308")
    return SpaceValidation(valid=True, log10_cardinality=log10, cardinality=card if card < _EXACT_INT else str(card))


def space_model(body: dict[str, Any]) -> Any:
    """The :class:`nas_service.space.SearchSpace` of a document already found valid by :func:`check_space`."""
    from nas_service.space import SearchSpace

    return SearchSpace.from_dict(body)


def preset_space(name: str) -> dict[str, Any]:
    """The document of a preset space (``digits``, ``mnasnet``, ...); 422 when unknown."""
    from nas_service.space import get_space

    try:
        return get_space(name).model_dump(mode="json")
    except KeyError as exc:
        raise ApiError(422, "validation_error", str(exc.args[0]), field="space") from None


def fit_report(payload: JobCreate, spec: JobSpec, body: dict[str, Any] | None) -> FitReport:
    """How the job's space (or a scaling job's base network) fits its proxy task (see :mod:`nas_service.fitcheck`).

    Args:
        payload: The request (whether ``proxy.resolution`` was given explicitly).
        spec: The job spec.
        body: The (valid) space document, or ``None`` for a scaling job without one.
    """
    from nas_service.fitcheck import check_scaling_fit, check_space_fit
    from nas_service.space import SearchSpace

    block = spec.scaling if spec.kind == "scaling" else spec.netadapt if spec.kind == "netadapt" else None
    if block is not None:
        from nas_service.strategies.scaling import resolve_base

        base = block.base
        if isinstance(base, str) and base.isdigit():  # an earlier trial: already sized to its data
            return FitReport()
        try:
            arch = resolve_base(base)
        except ValueError as exc:
            raise ApiError(422, "validation_error", str(exc), field=f"{spec.kind}.base") from None
        return check_scaling_fit(spec, arch, preset=isinstance(base, str))
    if body is None:
        return FitReport()
    given = "resolution" in payload.proxy.model_fields_set
    return check_space_fit(spec, SearchSpace.from_dict(body), resolution_given=given)


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader without anchors/aliases: a few hundred bytes of aliases can expand to gigabytes ("billion
    laughs") once the document is serialized again."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, "YAML aliases (*name) are not accepted", event.start_mark)
        return super().compose_node(parent, index)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_document(raw: bytes, content_type: str) -> Any:
    """Decode a request body as YAML (YAML content types) or JSON (anything else); 400/415 on failure."""
    media = content_type.split(";")[0].strip().lower()
    if media in YAML_TYPES:
        try:
            doc = yaml.load(raw.decode("utf-8"), Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
        except (yaml.YAMLError, ValueError, RecursionError) as exc:  # ValueError: e.g. a 5,000-digit integer
            message = " ".join(str(exc).split())[:300]
            raise ApiError(400, "bad_request", f"invalid YAML: {message}", field="body") from None
        return doc
    if media not in ("application/json", "") and not media.endswith("+json"):
        raise ApiError(415, "unsupported_media_type", f"send application/json or application/yaml, not {media}")
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "bad_request", f"invalid JSON: {str(exc)[:300]}", field="body") from None


def as_space_create(doc: Any, name: str | None) -> dict[str, Any]:
    """Shape a decoded body as ``SpaceCreate``: ``{name, space}`` as is, else the whole document is the space.

    A bare space takes its name from the ``name`` query parameter, else its own ``name`` field.
    """
    if (
        isinstance(doc, dict)
        and ("space" in doc or "definition" in doc)
        and set(doc)
        <= {
            "name",
            "space",
            "definition",
        }
    ):
        return {"name": name, **doc} if name and "name" not in doc else doc
    if not isinstance(doc, dict):
        raise ApiError(422, "validation_error", "a search space must be a mapping", field="space")
    return {"name": name or doc.get("name"), "space": doc}
