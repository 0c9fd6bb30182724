"""``/spaces``: store, list, read, validate (dry run) and archive search spaces.

``POST /spaces`` and ``POST /spaces/validate`` take JSON or YAML (``Content-Type: application/yaml``). The
body is ``{name, space}``, or a bare space document named by ``?name=`` or its own ``name`` field.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from api.convert import space_public, space_summary
from api.deps import CurrentOwner, StorageDep
from api.errors import ApiError
from api.routes._common import Limit, Offset, PathId, visible_space
from api.space_check import YAML_TYPES, as_space_create, check_space, parse_document, space_model
from nas_service.limits import check_json_tree, check_space_limits
from nas_service.schemas import MAX_SPACE_BYTES, Page, SpaceCreate, SpacePublic, SpaceSummary, SpaceValidation

router = APIRouter(prefix="/spaces", tags=["spaces"])

_SPACE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": SpaceCreate.model_json_schema()},
            **{t: {"schema": {"type": "string"}} for t in YAML_TYPES[:1]},
        },
    }
}
_NAME = Annotated[str | None, Query(max_length=200, description="Name of a bare space document.")]


async def _read_document(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > MAX_SPACE_BYTES * 2:
        raise ApiError(413, "payload_too_large", f"the body is larger than {MAX_SPACE_BYTES * 2} bytes")
    doc = parse_document(raw, request.headers.get("content-type", "application/json"))
    check_json_tree(doc, "", request.app.state.settings.limits())  # depth, sizes, finite numbers (422)
    return doc


@router.post(
    "",
    operation_id="create_space",
    status_code=status.HTTP_201_CREATED,
    response_model=SpacePublic,
    openapi_extra=_SPACE_BODY,
)
async def create_space(request: Request, storage: StorageDep, principal: CurrentOwner, name: _NAME = None) -> Any:
    """Store a search space (a new version when the name exists); 422 names the first invalid field."""
    doc = await _read_document(request)
    try:
        payload = SpaceCreate.model_validate(as_space_create(doc, name))
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False, include_context=False)]
        ) from None
    report = check_space(payload.space)
    if not report.valid:
        err = report.errors[0]
        raise ApiError(422, "validation_error", err.message, field=f"space.{err.field}".rstrip("."))
    check_space_limits(space_model(payload.space), request.app.state.settings.limits())
    record = await run_in_threadpool(
        storage.create_space, principal.owner, payload.name, payload.space, report.log10_cardinality
    )
    return space_public(record)


@router.post("/validate", operation_id="validate_space", response_model=SpaceValidation, openapi_extra=_SPACE_BODY)
async def validate_space(request: Request, principal: CurrentOwner) -> SpaceValidation:
    """Dry run: whether the space is valid, its size and the problems found (nothing is stored)."""
    doc = await _read_document(request)
    if isinstance(doc, dict) and isinstance(doc.get("space", doc.get("definition")), dict):
        doc = doc.get("space", doc.get("definition"))
    if not isinstance(doc, dict):
        return SpaceValidation(valid=False, errors=[{"field": "space", "message": "a space must be a mapping"}])
    return check_space(doc)


@router.get("", operation_id="list_spaces", response_model=Page[SpaceSummary])
def list_spaces(
    storage: StorageDep,
    principal: CurrentOwner,
    limit: Limit = 50,
    offset: Offset = 0,
    name: Annotated[str | None, Query(max_length=200)] = None,
    include_archived: bool = True,
    owner: Annotated[str | None, Query(max_length=200, description="Admins only: another owner.")] = None,
) -> Page[SpaceSummary]:
    """Space summaries (no document: ``GET /spaces/{id}`` has it), newest first (admins see every owner's, or
    one ``owner``'s)."""
    who = owner if principal.is_admin else principal.owner
    page = storage.list_spaces(owner=who, name=name, include_archived=include_archived, limit=limit, offset=offset)
    items = [space_summary(s) for s in page.items]
    return Page[SpaceSummary](items=items, total=page.total, limit=limit, offset=offset)


@router.get("/{space_id}", operation_id="get_space", response_model=SpacePublic)
def get_space(space_id: PathId, storage: StorageDep, principal: CurrentOwner) -> SpacePublic:
    """One space."""
    return space_public(visible_space(storage, principal, space_id))


@router.post("/{space_id}/archive", operation_id="archive_space", response_model=SpacePublic)
def archive_space(space_id: PathId, storage: StorageDep, principal: CurrentOwner) -> SpacePublic:
    """Archive a space: existing jobs keep it, new jobs cannot use it."""
    visible_space(storage, principal, space_id)
    return space_public(storage.archive_space(space_id))
