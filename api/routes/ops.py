"""Operations: liveness, readiness (database reachable and schema at head) and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from api.deps import StorageDep
from nas_service.schemas import HealthPublic
from nas_service.storage import StorageError
from nas_service.storage.schema import UPGRADE_COMMAND

router = APIRouter(tags=["ops"])


@router.get("/healthz", operation_id="health", response_model=HealthPublic)
def health() -> HealthPublic:
    """The process is up (no database access)."""
    return HealthPublic(status="ok")


@router.get(
    "/readyz",
    operation_id="readiness",
    response_model=HealthPublic,
    responses={503: {"model": HealthPublic, "description": "Database unreachable or schema not at head."}},
)
def readiness(storage: StorageDep) -> HealthPublic | JSONResponse:
    """Ready to serve: the database answers and its schema is at this code's head revision (else 503)."""
    try:
        storage.ping()
        status = storage.schema_status()
    except StorageError as exc:
        body = HealthPublic(status="unavailable", detail=f"database unreachable: {exc}")
        return JSONResponse(status_code=503, content=body.model_dump())
    if not status.up_to_date:
        detail = (
            f"database schema is at {status.current or '<empty>'}, this code needs {status.head}: "
            f"run `{UPGRADE_COMMAND}`"
        )
        body = HealthPublic(
            status="unavailable", detail=detail, schema_revision=status.current, head_revision=status.head
        )
        return JSONResponse(status_code=503, content=body.model_dump())
    return HealthPublic(status="ok", schema_revision=status.current, head_revision=status.head)


@router.get("/metrics", operation_id="metrics", response_class=PlainTextResponse)
def metrics(request: Request, storage: StorageDep) -> PlainTextResponse:
    """Prometheus text format: jobs and trials by state, trial-report latency histogram."""
    text = request.app.state.metrics.render(storage)
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")
